import { type Domain, type EventDispatcher, WSClient } from '@larksuiteoapi/node-sdk';
import type { Logger } from '../../src/observability/logger.ts';
import { LarkCredentialsError } from './lark-api-error.ts';
import { sdkLogger } from './sdk-logger.ts';

/** Where the long connection stands: `connecting` until the first connection, `reconnecting` in a gap after it. */
export type LongConnectionState = 'connecting' | 'connected' | 'reconnecting';

/** Why the adapter replaced the SDK's client. */
export type ReplaceReason = 'gave_up' | 'stalled';

/** Options of the long-connection transport. */
export interface LongConnectionOptions {
  appId: string;
  appSecret: string;
  domain: Domain | string;
  dispatcher: EventDispatcher;
  logger: Logger;
  /**
   * How long {@link startLongConnection} waits for the first connection; after it, it resolves anyway and the
   * connection keeps trying in the background. @defaultValue 30000
   */
  readyTimeoutMs?: number;
  /** A ping with no frame at all back within this long ends the socket (the SDK's `wsConfig.pingTimeout`). @defaultValue 15000 */
  pingTimeoutMs?: number;
  /**
   * Disconnected this long while the SDK still waits to retry (the platform's `ReconnectInterval` is 120 s): the
   * client is replaced. @defaultValue 180000
   */
  stallMs?: number;
  /** Delay before the first replacement client, doubled for each one that fails to connect. @defaultValue 1000 */
  reconnectBaseMs?: number;
  /** Largest replacement delay before jitter (jitter adds up to as much again). @defaultValue 60000 */
  reconnectMaxMs?: number;
  /** How often the client's state is looked at. @defaultValue 1000 */
  checkIntervalMs?: number;
  /** Ends the wait for the first connection (shutdown during start-up); the connection itself goes on. */
  signal?: AbortSignal;
  /** Told of every state change (readiness, metrics). */
  onStateChange?: (state: LongConnectionState) => void;
  /** Told of every replaced client. */
  onReplace?: (reason: ReplaceReason) => void;
}

/** A running long connection that owns its liveness: it replaces the SDK client when that gives up or stalls. */
export interface LongConnection {
  readonly state: LongConnectionState;
  close(): void;
}

/** The SDK's error for a refused app (`/callback/ws/endpoint` code 514): the credentials are wrong. */
const authFailed = /code=514\b/;

/** A delay in `[delay, 2 × delay)` for the `attempt`-th (1-based) replacement: exponential, capped, jittered. */
export function replacementDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay * (1 + random()));
}

/**
 * Receives events over the SDK's long connection (`LARK_MODE=ws`, no public URL needed): the SDK acknowledges each
 * event after the dispatcher's handler resolves, and Lark re-pushes unacknowledged ones after a reconnect.
 *
 * The SDK's `WSClient` reconnects after a drop by itself, but stops for good when the endpoint answers anything but
 * `internal_error` ("system busy", the connection limit, 403), and between tries waits the platform's
 * `ReconnectInterval` (120 s). So this watches it: a client that gave up, or is still disconnected after `stallMs`,
 * is closed and a new one started after a backoff with jitter. Each state change is logged once, with the gap.
 *
 * Resolves once connected, or after `readyTimeoutMs` still connecting (said in one line); rejects only with a
 * {@link LarkCredentialsError} when the platform refuses the app before any connection.
 */
export async function startLongConnection(options: LongConnectionOptions): Promise<LongConnection> {
  const connection = new SupervisedConnection(options);
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const connected = await connection.firstConnection(timeoutMs, options.signal).catch((error: unknown) => {
    connection.close();
    throw error;
  });
  if (!connected && options.signal?.aborted !== true) {
    options.logger.warn(
      { timeoutMs },
      `no Lark long connection after ${timeoutMs} ms: still retrying in the background (/readyz is false until connected)`,
    );
  }
  return connection;
}

/** The long connection behind {@link startLongConnection}: one SDK client at a time, watched and replaced. */
class SupervisedConnection implements LongConnection {
  state: LongConnectionState = 'connecting';
  private client: WSClient | undefined;
  private closed = false;
  private everConnected = false;
  /** When the current gap began (logged as its length once connected again). */
  private gapStartedAt = Date.now();
  /** Since when the current client has been trying (the stall check). */
  private waitingSince = Date.now();
  /** Replacement clients since the last connection (the backoff's exponent). */
  private attempts = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private readonly checkTimer: NodeJS.Timeout;
  private readonly settings: Required<
    Pick<LongConnectionOptions, 'pingTimeoutMs' | 'stallMs' | 'reconnectBaseMs' | 'reconnectMaxMs'>
  >;
  private first: { resolve: (connected: boolean) => void; reject: (error: Error) => void } | undefined;

  constructor(private readonly options: LongConnectionOptions) {
    this.settings = {
      pingTimeoutMs: options.pingTimeoutMs ?? 15_000,
      stallMs: options.stallMs ?? 180_000,
      reconnectBaseMs: options.reconnectBaseMs ?? 1000,
      reconnectMaxMs: options.reconnectMaxMs ?? 60_000,
    };
    this.checkTimer = setInterval(() => this.check(), options.checkIntervalMs ?? 1000);
    this.checkTimer.unref();
    this.startClient();
  }

  /** Resolves true once connected, false after `timeoutMs`; rejects when the app is refused. */
  firstConnection(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.state === 'connected') return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(false), timeoutMs);
      const onAbort = () => settle(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (connected: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.first = undefined;
        resolve(connected);
      };
      this.first = {
        resolve: settle,
        reject: (error) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.first = undefined;
          reject(error);
        },
      };
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.checkTimer);
    clearTimeout(this.replaceTimer);
    this.client?.close({ force: true });
    this.client = undefined;
  }

  private startClient(): void {
    const client: WSClient = new WSClient({
      appId: this.options.appId,
      appSecret: this.options.appSecret,
      domain: this.options.domain,
      logger: sdkLogger(this.options.logger, [this.options.appSecret]),
      wsConfig: { pingTimeout: this.settings.pingTimeoutMs / 1000 },
      onReady: () => this.onConnected(client),
      onReconnected: () => this.onConnected(client),
      onReconnecting: () => this.onDisconnected(client, 'the connection was lost'),
      onError: (error) => this.onGaveUp(client, error),
    });
    this.client = client;
    this.waitingSince = Date.now();
    void client.start({ eventDispatcher: this.options.dispatcher });
  }

  private setState(state: LongConnectionState): void {
    this.state = state;
    this.options.onStateChange?.(state);
  }

  private onConnected(client: WSClient): void {
    if (client !== this.client || this.closed || this.state === 'connected') return;
    const gapMs = Date.now() - this.gapStartedAt;
    this.attempts = 0;
    if (this.everConnected) {
      this.options.logger.info({ gapMs }, `Lark long connection restored after ${gapMs} ms disconnected`);
    } else {
      this.options.logger.info({ afterMs: gapMs }, 'Lark long connection established');
    }
    this.everConnected = true;
    this.setState('connected');
    this.first?.resolve(true);
  }

  private onDisconnected(client: WSClient, reason: string): void {
    if (client !== this.client || this.closed || this.state !== 'connected') return;
    this.gapStartedAt = Date.now();
    this.waitingSince = this.gapStartedAt;
    this.options.logger.warn({ reason }, `Lark long connection lost (${reason}): reconnecting`);
    this.setState('reconnecting');
  }

  private onGaveUp(client: WSClient, error: Error): void {
    if (client !== this.client || this.closed) return;
    if (!this.everConnected && this.first !== undefined && authFailed.test(error.message)) {
      this.first.reject(new LarkCredentialsError(`the long connection was refused: ${error.message}`));
      return;
    }
    this.onDisconnected(client, `the SDK gave up: ${error.message}`);
    this.replace('gave_up', error.message);
  }

  /** The watchdog: a client the SDK gave up on, or disconnected for longer than `stallMs`, is replaced. */
  private check(): void {
    const client = this.client;
    if (client === undefined || this.closed || this.replaceTimer !== undefined) return;
    const status = client.getConnectionStatus().state;
    if (status === 'connected') {
      this.onConnected(client);
      return;
    }
    this.onDisconnected(client, 'the connection was lost');
    if (status === 'failed') this.replace('gave_up', 'the SDK stopped retrying');
    else if (Date.now() - this.waitingSince > this.settings.stallMs) {
      this.replace('stalled', `no connection for ${this.settings.stallMs} ms`);
    }
  }

  private replace(reason: ReplaceReason, detail: string): void {
    if (this.replaceTimer !== undefined || this.closed) return;
    this.client?.close({ force: true });
    this.attempts += 1;
    const delayMs = replacementDelayMs(this.attempts, this.settings.reconnectBaseMs, this.settings.reconnectMaxMs);
    this.options.logger.warn(
      { reason, attempt: this.attempts, delayMs, disconnectedMs: Date.now() - this.gapStartedAt },
      `Lark long connection: starting a new client in ${delayMs} ms (${detail})`,
    );
    this.options.onReplace?.(reason);
    this.replaceTimer = setTimeout(() => {
      this.replaceTimer = undefined;
      if (!this.closed) this.startClient();
    }, delayMs);
    this.replaceTimer.unref();
  }
}
