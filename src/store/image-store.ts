import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** The stored image is over the store's size cap. */
export class ImageTooLargeForStoreError extends Error {
  override readonly name = 'ImageTooLargeForStoreError';
  constructor(
    readonly sha256: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`image ${sha256} is ${size} bytes, over the store's cap of ${limit}`);
  }
}

/** Normalized images by sha256 (`img:<sha256>`), with a TTL and a size cap. */
export class ImageStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly options: { ttlSeconds: number; maxBytes: number },
  ) {}

  /** Stores the bytes (refreshing the TTL when already there). */
  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength > this.options.maxBytes) {
      throw new ImageTooLargeForStoreError(sha256, bytes.byteLength, this.options.maxBytes);
    }
    await this.redis.set(this.keys.image(sha256), Buffer.from(bytes), 'EX', this.options.ttlSeconds);
  }

  /** The bytes, or `undefined` when expired or never stored; reading refreshes the TTL. */
  async get(sha256: string): Promise<Uint8Array | undefined> {
    const key = this.keys.image(sha256);
    const [[, bytes], [, _expire]] = (await this.redis
      .multi()
      .getBuffer(key)
      .expire(key, this.options.ttlSeconds)
      .exec()) as [[Error | null, Buffer | null], [Error | null, number]];
    return bytes === null ? undefined : new Uint8Array(bytes);
  }
}
