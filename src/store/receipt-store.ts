import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** Remembers received platform messages (`SET NX`, TTL ≥ 8 h) so redeliveries are dropped across replicas. */
export class ReceiptStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** True the first time a request id is seen, false for a duplicate. */
  async markReceived(requestId: string): Promise<boolean> {
    return (await this.redis.set(this.keys.received(requestId), '1', 'EX', this.ttlSeconds, 'NX')) === 'OK';
  }

  /** Forgets a receipt (the message could not be enqueued, so a redelivery must get through). */
  async forget(requestId: string): Promise<void> {
    await this.redis.del(this.keys.received(requestId));
  }
}
