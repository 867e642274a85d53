import type { Redis } from 'ioredis';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/logger.ts';
import { PipelineQueues } from '../queue/pipeline-queues.ts';
import { RedisKeys } from '../redis/redis-keys.ts';
import { ChannelLine } from '../store/channel-line.ts';
import { ContextStore } from '../store/context-store.ts';
import { ImageStore } from '../store/image-store.ts';
import { RateLimiter } from '../store/rate-limiter.ts';
import { ReceiptStore } from '../store/receipt-store.ts';
import { RedisEmbeddingCache } from '../store/redis-embedding-cache.ts';
import { UploadStore } from '../store/upload-store.ts';

/** The settings the pipeline reads (a subset of {@link Config}, so tests can pass small values). */
export type PipelineSettings = Pick<
  Config,
  | 'QUEUE_PREFIX'
  | 'CONTEXT_TTL_SECONDS'
  | 'CONTEXT_MAX_TURNS'
  | 'CONTEXT_MAX_TOKENS'
  | 'IMAGE_MAX_BYTES'
  | 'IMAGE_MAX_PIXELS'
  | 'IMAGE_TTL_SECONDS'
  | 'TEXT_MAX_CHARACTERS'
  | 'MAX_NEW_TOKENS'
  | 'GENERATION_TIMEOUT_MS'
  | 'WORKER_BATCH_SIZE'
  | 'JOB_LOCK_MS'
  | 'DEDUPLICATION_TTL_SECONDS'
  | 'PROGRESS_INTERVAL_MS'
  | 'RATE_LIMIT_USER_PER_MINUTE'
  | 'RATE_LIMIT_CHANNEL_PER_MINUTE'
>;

/** Everything pipeline parts share: one Redis connection, the queues and the stores, built once per process. */
export interface PipelineContext {
  readonly redis: Redis;
  readonly settings: PipelineSettings;
  readonly logger: Logger;
  readonly keys: RedisKeys;
  readonly queues: PipelineQueues;
  readonly line: ChannelLine;
  readonly contexts: ContextStore;
  readonly images: ImageStore;
  readonly uploads: UploadStore;
  readonly receipts: ReceiptStore;
  readonly rateLimiter: RateLimiter;
  readonly embeddings: RedisEmbeddingCache;
}

/** Builds the shared pipeline parts on a BullMQ-ready connection (`maxRetriesPerRequest: null`). */
export function createPipelineContext(redis: Redis, settings: PipelineSettings, logger: Logger): PipelineContext {
  const keys = new RedisKeys(settings.QUEUE_PREFIX);
  const lineTtl = Math.max(settings.DEDUPLICATION_TTL_SECONDS, settings.CONTEXT_TTL_SECONDS);
  return {
    redis,
    settings,
    logger,
    keys,
    queues: new PipelineQueues(redis, settings.QUEUE_PREFIX, (error) =>
      logger.warn({ err: error.message }, 'queue connection error'),
    ),
    line: new ChannelLine(redis, keys, lineTtl),
    contexts: new ContextStore(redis, keys, {
      ttlSeconds: settings.CONTEXT_TTL_SECONDS,
      maxTurns: settings.CONTEXT_MAX_TURNS,
      maxTokens: settings.CONTEXT_MAX_TOKENS,
    }),
    images: new ImageStore(redis, keys, { ttlSeconds: settings.IMAGE_TTL_SECONDS, maxBytes: settings.IMAGE_MAX_BYTES }),
    uploads: new UploadStore(redis, keys),
    receipts: new ReceiptStore(redis, keys, settings.DEDUPLICATION_TTL_SECONDS),
    rateLimiter: new RateLimiter(redis, keys, {
      userPerWindow: settings.RATE_LIMIT_USER_PER_MINUTE,
      channelPerWindow: settings.RATE_LIMIT_CHANNEL_PER_MINUTE,
      windowMs: 60_000,
    }),
    embeddings: new RedisEmbeddingCache(redis, keys, settings.IMAGE_TTL_SECONDS),
  };
}
