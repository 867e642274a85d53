import { type Domain, type EventDispatcher, WSClient } from '@larksuiteoapi/node-sdk';
import type { Logger } from '../../src/observability/logger.ts';
import { sdkLogger } from './sdk-logger.ts';

/** Options of the long-connection transport. */
export interface LongConnectionOptions {
  appId: string;
  appSecret: string;
  domain: Domain | string;
  dispatcher: EventDispatcher;
  logger: Logger;
  /** How long to wait for the first connection. @defaultValue 30000 */
  readyTimeoutMs?: number;
}

/** A running long connection. */
export interface LongConnection {
  close(): void;
}

/**
 * Receives events over the SDK's long connection (`LARK_MODE=ws`, no public URL needed): the SDK acknowledges each
 * event after the dispatcher's handler resolves, and Lark re-pushes unacknowledged ones. Resolves once connected.
 */
export async function startLongConnection(options: LongConnectionOptions): Promise<LongConnection> {
  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const client = new WSClient({
    appId: options.appId,
    appSecret: options.appSecret,
    domain: options.domain,
    logger: sdkLogger(options.logger, [options.appSecret]),
    onReady: () => settle?.resolve(),
    onError: (error) => {
      options.logger.error({ error: error.message }, 'Lark long connection failed');
      settle?.reject(error);
    },
    onReconnecting: () => options.logger.warn('Lark long connection lost: reconnecting'),
    onReconnected: () => options.logger.info('Lark long connection restored'),
  });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const timer = setTimeout(() => settle?.reject(new Error(`no Lark long connection after ${timeoutMs} ms`)), timeoutMs);
  await client.start({ eventDispatcher: options.dispatcher });
  try {
    await ready;
  } catch (error) {
    client.close({ force: true });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { close: () => client.close({ force: true }) };
}
