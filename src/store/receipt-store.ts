import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

// KEYS: receipt. ARGV: this call's token, ttl seconds. 1 when the receipt is this call's (just set, or set by this
// same command sent again after its reply was lost), 0 when another call holds it (a redelivery).
const receiveScript = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
if holder == ARGV[1] then return 1 end
return 0`;

/**
 * Remembers received platform messages (TTL ≥ 8 h) so redeliveries are dropped across replicas. Each receipt holds
 * the token of the call that made it: when Redis carried out the command but its reply was lost (a crash, a cut
 * connection), ioredis sends it again, and the same token tells the retry from a redelivery.
 */
export class ReceiptStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** True the first time a request id is seen, false for a duplicate. */
  async markReceived(requestId: string): Promise<boolean> {
    const token = randomUUID();
    return (await this.redis.eval(receiveScript, 1, this.keys.received(requestId), token, this.ttlSeconds)) === 1;
  }

  /** True when a receipt for the request id exists (reads only). */
  async wasReceived(requestId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.received(requestId))) === 1;
  }

  /** Forgets a receipt (the message could not be enqueued, so a redelivery must get through). */
  async forget(requestId: string): Promise<void> {
    await this.redis.del(this.keys.received(requestId));
  }
}
