import type { Redis } from 'ioredis';
import type { Config } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/config-error.ts';
import type { Logger } from '../../src/observability/logger.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import type { LarkAdapter } from './lark-adapter.ts';
import { LarkApiError, LarkCredentialsError } from './lark-api-error.ts';
import { larkSettingsFromConfig } from './lark-config.ts';

/** Errors that mean "this adapter cannot start as configured": reported in one line, never with a secret. */
export function isLarkStartError(error: unknown): error is Error {
  return error instanceof ConfigError || error instanceof LarkCredentialsError || error instanceof LarkApiError;
}

/**
 * Starts the Lark adapter from the configuration next to whatever else runs (`start`), or gives `undefined` when
 * `LARK_APP_ID` is unset or the adapter cannot start (logged as one clear line; the rest of the process keeps running).
 */
export async function startLarkFromConfig(
  pipeline: PipelineContext,
  config: Config,
  eventsConnection: Redis,
  logger: Logger,
  signal?: AbortSignal,
): Promise<LarkAdapter | undefined> {
  try {
    const settings = larkSettingsFromConfig(config);
    if (settings === undefined) {
      logger.info('LARK_APP_ID unset: the Lark adapter is not started');
      eventsConnection.disconnect();
      return undefined;
    }
    const { startLarkAdapter } = await import('./lark-adapter.ts');
    return await startLarkAdapter(pipeline, {
      settings,
      eventsConnection,
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    eventsConnection.disconnect();
    if (!isLarkStartError(error)) throw error;
    logger.error(`lark adapter not started: ${error.message}`);
    return undefined;
  }
}

/** The Lark adapter of `start`, coming up in the background. */
export interface BackgroundLarkAdapter {
  /** For `/readyz`: false while a Lark adapter that should be connected is not (true when none is configured). */
  readonly ready: boolean;
  close(): Promise<void>;
}

/**
 * Starts the Lark adapter like {@link startLarkFromConfig} without waiting for it: an unreachable platform or a long
 * connection that does not come up is retried in the background while the web chat and the other adapters serve.
 * No failure of it ends the process: it is one log line.
 */
export function startLarkInBackground(
  pipeline: PipelineContext,
  config: Config,
  eventsConnection: Redis,
  logger: Logger,
): BackgroundLarkAdapter {
  const controller = new AbortController();
  const state: { adapter?: LarkAdapter; settled: boolean } = { settled: false };
  const starting = startLarkFromConfig(pipeline, config, eventsConnection, logger, controller.signal).then(
    (adapter) => {
      state.settled = true;
      if (adapter !== undefined) state.adapter = adapter;
    },
    (error: unknown) => {
      state.settled = true;
      eventsConnection.disconnect();
      if (!controller.signal.aborted) {
        logger.error(`lark adapter not started: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  );
  return {
    get ready() {
      return state.settled && (state.adapter === undefined || state.adapter.connected);
    },
    async close() {
      controller.abort();
      await starting;
      await state.adapter?.close();
    },
  };
}
