import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** Raw upload bytes the adapter parks for its ingest worker (`upload:<key>`, short TTL). */
export class UploadStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds = 3600,
  ) {}

  /** Parks the bytes and returns the key to put in the ingest job. */
  async park(bytes: Uint8Array, uploadKey: string = randomUUID()): Promise<string> {
    await this.redis.set(this.keys.upload(uploadKey), Buffer.from(bytes), 'EX', this.ttlSeconds);
    return uploadKey;
  }

  /** The parked bytes, or `undefined` when gone. */
  async read(uploadKey: string): Promise<Uint8Array | undefined> {
    const bytes = await this.redis.getBuffer(this.keys.upload(uploadKey));
    return bytes === null ? undefined : new Uint8Array(bytes);
  }

  /** Drops the parked bytes once the image is stored. */
  async discard(uploadKey: string): Promise<void> {
    await this.redis.del(this.keys.upload(uploadKey));
  }
}
