import { existsSync } from 'node:fs';
import { config as loadDotenv } from 'dotenv';
import { z } from 'zod';
import { redactRedisUrl } from '../redis/redact-redis-url.ts';
import { ConfigError } from './config-error.ts';

const integer = (minimum: number) => z.coerce.number().int().min(minimum);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));
const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );

/** True for a URL ioredis reads as meant: a redis: or rediss: scheme, a host and, when given, a numeric port. */
function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** Every environment variable the bot reads, with its default. Names match design §7. */
const environmentSchema = z.object({
  /** Redis to use (`redis://[:password@]host:port[/db]`, `rediss://` for TLS); when unset, `start` launches a private redis-server. */
  REDIS_URL: optionalText.pipe(
    z
      .string()
      .refine(isRedisUrl, 'expected redis://[:password@]host:port[/db] or rediss://… (the scheme is required)')
      .optional(),
  ),
  /** How long a process waits at start for REDIS_URL to answer before it exits with an error. @defaultValue 30000 */
  REDIS_WAIT_MS: integer(0).default(30_000),
  /** BullMQ prefix and key prefix; hash-tagged so every key lands in one Redis Cluster slot. @defaultValue `{zvb}` */
  QUEUE_PREFIX: z.string().min(1).default('{zvb}'),
  /** Model directory; when unset, `start` builds the tiny demo model once into the cache dir. */
  MODEL_DIR: optionalText,
  /** onnxruntime execution provider. @defaultValue `cpu` */
  EXECUTION_PROVIDER: z.enum(['cpu', 'cuda', 'webgpu']).default('cpu'),
  /** onnxruntime intra-op threads per worker process on CPU. @defaultValue onnxruntime's choice (all cores) */
  MODEL_THREADS: z.coerce.number().int().min(1).optional(),
  /** Where `start` keeps the demo model. @defaultValue `$XDG_CACHE_HOME/ziya-visual-bot`, else `.cache/` in the project */
  CACHE_DIR: z.string().min(1).optional(),
  /** Port of the local web chat. @defaultValue 8080 */
  WEB_PORT: integer(0).max(65535).default(8080),
  /** Address the web chat listens on. @defaultValue `127.0.0.1` */
  WEB_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * The web chat's public address when people reach it by a DNS name (`https://chat.example.com` behind a proxy): its
   * Host and Origin are trusted. Unset: only IP addresses and `localhost` (a DNS-rebinding page is refused).
   */
  WEB_PUBLIC_URL: optionalText.pipe(z.url().optional()),
  /** Event streams the web chat holds open at once (each is a socket); more are refused with 503. @defaultValue 500 */
  WEB_MAX_STREAMS: integer(1).default(500),
  /** Event streams one client address may hold open (behind a proxy: the proxy's); more get 429. @defaultValue 20 */
  WEB_MAX_STREAMS_PER_CLIENT: integer(1).default(20),
  /**
   * The token people sign in with (once, on the chat's sign-in page; then a session cookie). Required when WEB_HOST is
   * not a loopback address, unless WEB_PUBLIC=true. At least 16 characters. Never logged.
   */
  WEB_ACCESS_TOKEN: optionalText.pipe(z.string().min(16, 'use at least 16 characters').optional()),
  /** `true`: serve the web chat on a non-loopback WEB_HOST without WEB_ACCESS_TOKEN (an auth proxy guards it). @defaultValue false */
  WEB_PUBLIC: optionalText.pipe(z.enum(['true', 'false']).optional()).transform((value) => value === 'true'),
  /**
   * Behind an auth proxy (oauth2-proxy and the like): the request header naming the signed-in person
   * (`X-Forwarded-Email`); each gets their own user id for the rate limits, and a request without it is refused.
   * Unset: everyone is one web user. Only for a port that nothing but the proxy can reach.
   */
  WEB_TRUSTED_USER_HEADER: optionalText.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'expected a header name (letters, digits, -)')
      .transform((name) => name.toLowerCase())
      .optional(),
  ),
  /** Discord bot token; when set, `start` runs the Discord adapter too. Never logged. */
  DISCORD_TOKEN: optionalText,
  /** Discord REST base override (e.g. `http://127.0.0.1:PORT/api`); the gateway URL comes from its `/gateway/bot`. */
  DISCORD_API_URL: optionalText.pipe(z.url().optional()),
  /** Comma-separated guild ids the Discord bot answers in; empty = every guild. */
  DISCORD_ALLOWED_GUILDS: list,
  /** Comma-separated Discord channel ids (a thread passes with its parent); empty = every channel. */
  DISCORD_ALLOWED_CHANNELS: list,
  /** Comma-separated Discord role ids; in a guild the author needs one of them; empty = anyone. */
  DISCORD_ALLOWED_ROLES: list,
  /** How long a picture sent alone on Discord waits for its sender's question. @defaultValue 20000 */
  DISCORD_IMAGE_WAIT_MS: integer(0).default(20_000),
  /** Minimum milliseconds between two edits of a streamed Discord answer. @defaultValue 1000 */
  DISCORD_STREAM_EDIT_INTERVAL_MS: integer(250).default(1000),
  /** Gateway shards this Discord adapter runs: `auto` (as many as Discord recommends) or a count. @defaultValue `auto` */
  DISCORD_SHARDS: optionalText
    .pipe(
      z
        .string()
        .regex(/^(?:auto|[1-9][0-9]*)$/, 'expected auto or a shard count')
        .transform((value) => (value === 'auto' ? ('auto' as const) : Number(value)))
        .optional(),
    )
    .transform((value) => value ?? 'auto'),
  LARK_APP_ID: optionalText,
  LARK_APP_SECRET: optionalText,
  LARK_DOMAIN: z.string().min(1).default('feishu'),
  LARK_MODE: z.enum(['ws', 'webhook']).default('ws'),
  LARK_ENCRYPT_KEY: optionalText,
  LARK_VERIFICATION_TOKEN: optionalText,
  /** Port of the Lark webhook (`POST /lark/events`) when `LARK_MODE=webhook`. @defaultValue 8081 */
  LARK_WEBHOOK_PORT: integer(0).max(65535).default(8081),
  /** Address the Lark webhook listens on. @defaultValue `0.0.0.0` */
  LARK_WEBHOOK_HOST: z.string().min(1).default('0.0.0.0'),
  /** Lark events (messages) older than this many seconds are dropped, not answered. @defaultValue 3600 */
  LARK_EVENT_MAX_AGE_SECONDS: integer(1).default(3600),
  /** How long a picture sent alone waits for its sender's question before it is answered by itself. @defaultValue 20000 */
  LARK_IMAGE_WAIT_MS: integer(0).default(20_000),
  /** `start` / `adapter lark` wait this long for the Lark long connection, then serve on while it keeps retrying. @defaultValue 30000 */
  LARK_CONNECT_TIMEOUT_MS: integer(0).default(30_000),
  /** A Lark long-connection ping with no frame back within this long ends the socket (then reconnects). @defaultValue 15000 */
  LARK_PING_TIMEOUT_MS: integer(100).default(15_000),
  /** Disconnected from Lark this long while the SDK waits to retry: the adapter starts a new client. @defaultValue 180000 */
  LARK_RECONNECT_STALL_MS: integer(1000).default(180_000),
  /** Comma-separated channel ids the bot answers in; empty = everywhere. */
  ALLOWED_CHANNELS: list,
  /** Comma-separated user ids the bot answers; empty = everyone. */
  ALLOWED_USERS: list,
  /** Seconds a channel's conversation is kept after its last message. @defaultValue 86400 */
  CONTEXT_TTL_SECONDS: integer(1).default(86_400),
  /** Most turns (user + assistant) kept per channel. @defaultValue 20 */
  CONTEXT_MAX_TURNS: integer(0).default(20),
  /** Rough token budget of the kept turns (characters / 2 for Latin text, 1 per CJK character). @defaultValue 1024 */
  CONTEXT_MAX_TOKENS: integer(0).default(1024),
  /** Largest image file accepted, in bytes. @defaultValue 20 MiB */
  IMAGE_MAX_BYTES: integer(1).default(20 * 1024 * 1024),
  /** Largest width × height accepted (checked from the header, before decoding). @defaultValue 40000000 */
  IMAGE_MAX_PIXELS: integer(1).default(40_000_000),
  /** Seconds normalized images (and their cached embeddings) are kept. @defaultValue 86400 */
  IMAGE_TTL_SECONDS: integer(1).default(86_400),
  /** Longest message text accepted, in characters. @defaultValue 4000 */
  TEXT_MAX_CHARACTERS: integer(1).default(4000),
  /** Most new tokens per answer. @defaultValue 128 */
  MAX_NEW_TOKENS: integer(1).default(128),
  /** Longest one answer may take before it is stopped and answered with the `timeout` error. @defaultValue 120000 */
  GENERATION_TIMEOUT_MS: integer(1000).default(120_000),
  /**
   * Sequences one worker process decodes together (its decode scheduler's KV-cache slots), each a different channel.
   * @defaultValue 8
   */
  WORKER_BATCH_SIZE: integer(1).default(8),
  /** Replaced by WORKER_BATCH_SIZE: refused with a message saying so, so an old deployment does not run at batch 8 unnoticed. */
  WORKER_CONCURRENCY: optionalText.pipe(
    z.undefined({ error: 'was replaced by WORKER_BATCH_SIZE (sequences decoded together): rename it' }),
  ),
  /** Requests of one channel a worker answers in a row before other channels get a turn (fairness). @defaultValue 3 */
  DRAIN_TURN_MAX: integer(1).default(3),
  /** Milliseconds a worker's job lock lasts (renewed at half) before another worker may take the job over. @defaultValue 30000 */
  JOB_LOCK_MS: integer(1000).default(30_000),
  /** Messages one user may send per minute (all channels, every adapter replica); over it, one "slow down" reply per minute, the rest dropped. 0 = no limit. @defaultValue 12 */
  RATE_LIMIT_USER_PER_MINUTE: integer(0).default(12),
  /** Messages one channel may receive per minute (from everyone); 0 = no limit. @defaultValue 30 */
  RATE_LIMIT_CHANNEL_PER_MINUTE: integer(0).default(30),
  /** Seconds a platform message id is remembered to drop redeliveries (Lark redelivers for ~7 h). @defaultValue 28800 */
  DEDUPLICATION_TTL_SECONDS: integer(28_800).default(28_800),
  /** Minimum milliseconds between two streamed partial-answer updates. @defaultValue 300 */
  PROGRESS_INTERVAL_MS: integer(300).default(300),
  /**
   * On SIGTERM a worker stops taking jobs and lets its active generation finish for this long; after it, the
   * generation is aborted and handed back to the queue (another worker answers it). Keep the pod's
   * terminationGracePeriodSeconds above this plus ~15 s. @defaultValue 30000
   */
  SHUTDOWN_GRACE_MS: integer(0).default(30_000),
  /** Port of the `/metrics`, `/healthz`, `/readyz` server of processes without a web server (workers). @defaultValue 9464 */
  METRICS_PORT: integer(0).max(65535).default(9464),
  /** Address that server listens on. @defaultValue `0.0.0.0` (pods are scraped from outside) */
  METRICS_HOST: z.string().min(1).default('0.0.0.0'),
  /** When set, `/metrics` wants `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: optionalText,
  /** When set, the web adapter mounts Bull Board at `/admin/queues` behind this token; unset: not mounted. */
  ADMIN_TOKEN: optionalText,
  /** `true`: Bull Board may retry, remove and add jobs. @defaultValue false (read-only) */
  ADMIN_WRITE: optionalText.pipe(z.enum(['true', 'false']).optional()).transform((value) => value === 'true'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Variables whose value an error line never repeats. */
const secretVariables: ReadonlySet<string> = new Set(['WEB_ACCESS_TOKEN']);

/** The validated configuration. */
export type Config = z.output<typeof environmentSchema>;

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Read `.env` (when present) into `process.env` first. @defaultValue true when `environment` is `process.env` */
  readDotenv?: boolean;
}

/** Reads and validates the configuration from the environment; throws {@link ConfigError} naming the variable. */
export function loadConfig(
  environment: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): Config {
  const readDotenv = options.readDotenv ?? environment === process.env;
  if (readDotenv && existsSync('.env')) loadDotenv({ path: '.env', quiet: true });
  const result = environmentSchema.safeParse(environment);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    // A URL's password never goes into the error line, nor does a token.
    const raw = secretVariables.has(variable) ? undefined : environment[variable];
    const value = raw === undefined ? undefined : redactRedisUrl(raw);
    throw new ConfigError(
      variable,
      `is invalid (${issue?.message ?? 'unknown problem'})${value === undefined ? '' : `: got ${JSON.stringify(value)}`}`,
    );
  }
  return result.data;
}
