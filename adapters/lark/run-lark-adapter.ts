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
): Promise<LarkAdapter | undefined> {
  try {
    const settings = larkSettingsFromConfig(config);
    if (settings === undefined) {
      logger.info('LARK_APP_ID unset: the Lark adapter is not started');
      eventsConnection.disconnect();
      return undefined;
    }
    const { startLarkAdapter } = await import('./lark-adapter.ts');
    return await startLarkAdapter(pipeline, { settings, eventsConnection });
  } catch (error) {
    eventsConnection.disconnect();
    if (!isLarkStartError(error)) throw error;
    logger.error(`lark adapter not started: ${error.message}`);
    return undefined;
  }
}
