import { Domain } from '@larksuiteoapi/node-sdk';
import type { Config } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/config-error.ts';

/** How the adapter receives events: the SDK's long connection (no public URL needed) or an HTTP webhook. */
export type LarkMode = 'ws' | 'webhook';

/** Settings of the Lark adapter (from `LARK_*` variables, or set directly by tests). */
export interface LarkSettings {
  appId: string;
  appSecret: string;
  /** `feishu`, `lark` or a base URL such as `http://127.0.0.1:PORT`. @defaultValue `feishu` */
  domain: string;
  /** @defaultValue `ws` */
  mode: LarkMode;
  encryptKey?: string;
  verificationToken?: string;
  /** @defaultValue 8081 */
  webhookPort: number;
  /** @defaultValue `0.0.0.0` */
  webhookHost: string;
  /** Messages older than this are dropped. @defaultValue 3600 */
  eventMaxAgeSeconds: number;
  /** A picture sent alone waits this long for its sender's question. @defaultValue 20000 */
  imageWaitMs: number;
  /** Chat ids answered in; empty = all. */
  allowedChats: readonly string[];
  /** Sender open_ids answered; empty = all. */
  allowedUsers: readonly string[];
  /** Minimum milliseconds between two streaming-card updates of one answer (CardKit allows 10/s). @defaultValue 100 */
  cardUpdateIntervalMs: number;
  /** Most characters in one card (cards are ≤ 30 KB); a longer answer continues in a new card. @defaultValue 6000 */
  cardMaxCharacters: number;
  /** Attempts of one API call on 429 / 5xx before the delivery job itself is retried. @defaultValue 4 */
  apiAttempts: number;
  /** First backoff delay of a retried API call (doubled each time). @defaultValue 250 */
  apiRetryDelayMs: number;
  /** An API call (image downloads included) unanswered after this long fails and is retried. @defaultValue 30000 */
  apiTimeoutMs: number;
  /** Start waits this long for the long connection, then goes on while it keeps trying in the background. @defaultValue 30000 */
  connectTimeoutMs: number;
  /** A ping of the long connection with nothing back within this long ends the socket. @defaultValue 15000 */
  pingTimeoutMs: number;
  /** Disconnected this long while the SDK waits to retry: the adapter replaces its client. @defaultValue 180000 */
  reconnectStallMs: number;
  /** First delay before a replacement client (doubled per failed one, jittered). @defaultValue 1000 */
  reconnectBaseMs: number;
  /** Largest replacement delay before jitter. @defaultValue 60000 */
  reconnectMaxMs: number;
}

/** Defaults of the optional settings, written once. */
export const larkDefaults = {
  domain: 'feishu',
  mode: 'ws',
  webhookPort: 8081,
  webhookHost: '0.0.0.0',
  eventMaxAgeSeconds: 3600,
  imageWaitMs: 20_000,
  allowedChats: [],
  allowedUsers: [],
  cardUpdateIntervalMs: 100,
  cardMaxCharacters: 6000,
  apiAttempts: 4,
  apiRetryDelayMs: 250,
  apiTimeoutMs: 30_000,
  connectTimeoutMs: 30_000,
  pingTimeoutMs: 15_000,
  reconnectStallMs: 180_000,
  reconnectBaseMs: 1000,
  reconnectMaxMs: 60_000,
} as const satisfies Partial<LarkSettings>;

/** The SDK's `domain` option and the language hint (feishu → zh-CN, lark → en) for a `LARK_DOMAIN` value. */
export function resolveLarkDomain(domain: string): { sdkDomain: Domain | string; languageHint: 'zh-CN' | 'en' } {
  const value = domain.trim();
  if (value.toLowerCase() === 'feishu') return { sdkDomain: Domain.Feishu, languageHint: 'zh-CN' };
  if (value.toLowerCase() === 'lark') return { sdkDomain: Domain.Lark, languageHint: 'en' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('LARK_DOMAIN', `must be feishu, lark or a base URL: got ${JSON.stringify(domain)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError('LARK_DOMAIN', `must be an http(s) URL: got ${JSON.stringify(domain)}`);
  }
  return { sdkDomain: value.replace(/\/+$/, ''), languageHint: url.hostname.includes('larksuite') ? 'en' : 'zh-CN' };
}

/** Checks settings that the SDK would accept silently (bad app id, an unauthenticated webhook). */
export function validateLarkSettings(settings: LarkSettings): void {
  resolveLarkDomain(settings.domain);
  if (settings.appSecret === '') throw new ConfigError('LARK_APP_SECRET', 'is required when LARK_APP_ID is set');
  // The SDK's WSClient.start() silently does nothing for another app id shape.
  if (settings.mode === 'ws' && !/^cli_[0-9a-fA-F]{16}$/.test(settings.appId)) {
    throw new ConfigError(
      'LARK_APP_ID',
      'must look like cli_ followed by 16 hex digits (the long connection needs it)',
    );
  }
  if (settings.mode === 'webhook' && settings.encryptKey === undefined && settings.verificationToken === undefined) {
    throw new ConfigError(
      'LARK_ENCRYPT_KEY',
      'or LARK_VERIFICATION_TOKEN is required with LARK_MODE=webhook (unauthenticated events are refused)',
    );
  }
}

/** Lark settings from the validated configuration, or undefined when `LARK_APP_ID` is unset. */
export function larkSettingsFromConfig(config: Config): LarkSettings | undefined {
  if (config.LARK_APP_ID === undefined) return undefined;
  const settings: LarkSettings = {
    ...larkDefaults,
    appId: config.LARK_APP_ID,
    appSecret: config.LARK_APP_SECRET ?? '',
    domain: config.LARK_DOMAIN,
    mode: config.LARK_MODE,
    ...(config.LARK_ENCRYPT_KEY === undefined ? {} : { encryptKey: config.LARK_ENCRYPT_KEY }),
    ...(config.LARK_VERIFICATION_TOKEN === undefined ? {} : { verificationToken: config.LARK_VERIFICATION_TOKEN }),
    webhookPort: config.LARK_WEBHOOK_PORT,
    webhookHost: config.LARK_WEBHOOK_HOST,
    eventMaxAgeSeconds: config.LARK_EVENT_MAX_AGE_SECONDS,
    imageWaitMs: config.LARK_IMAGE_WAIT_MS,
    allowedChats: config.ALLOWED_CHANNELS,
    allowedUsers: config.ALLOWED_USERS,
    connectTimeoutMs: config.LARK_CONNECT_TIMEOUT_MS,
    pingTimeoutMs: config.LARK_PING_TIMEOUT_MS,
    reconnectStallMs: config.LARK_RECONNECT_STALL_MS,
  };
  validateLarkSettings(settings);
  return settings;
}
