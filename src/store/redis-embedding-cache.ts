import type { Redis } from 'ioredis';
import type { EmbeddingCache } from '../model/chat-model.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** Projected image vectors in Redis (`emb:<modelId>:<sha256>`, little-endian float32), with a TTL. */
export class RedisEmbeddingCache implements EmbeddingCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** The cached vectors, or `undefined`. */
  async get(modelId: string, sha256: string): Promise<Float32Array | undefined> {
    const bytes = await this.redis.getBuffer(this.keys.embedding(modelId, sha256));
    if (bytes === null || bytes.byteLength % 4 !== 0) return undefined;
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Float32Array(copy.buffer);
  }

  /** Caches the vectors. */
  async set(modelId: string, sha256: string, embedding: Float32Array): Promise<void> {
    const bytes = Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength);
    await this.redis.set(this.keys.embedding(modelId, sha256), bytes, 'EX', this.ttlSeconds);
  }
}
