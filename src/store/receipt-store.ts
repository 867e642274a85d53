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

// A message's receipt while it is being received is `pending:<token>:<ms>`, and `done:<token>` once it is enqueued.
// A pending receipt older than the take-over time belongs to a receiver that died between its receipt and its enqueue
// (SIGKILL, a deploy): the platform's redelivery (a Discord RESUME replay, a Lark retry) takes it over instead of
// being dropped, which would lose the message and stall its channel's line. Receiving twice is harmless: joining the
// line, the ingest job id and the channel entry are all idempotent.
//
// KEYS: receipt. ARGV: this call's token, ttl seconds, take-over ms. 1 when this call may receive the message (a new
// receipt, this same command sent again after its reply was lost, or a stale pending receipt taken over), 0 when
// another call holds or finished it. A plain-token receipt (markReceived) is never taken over.
const claimScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local pending = 'pending:' .. ARGV[1] .. ':' .. now
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], pending, 'EX', ARGV[2])
  return 1
end
local token, at = string.match(holder, '^pending:([^:]+):(%d+)$')
if token == ARGV[1] then return 1 end
if token and now - tonumber(at) > tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], pending, 'EX', ARGV[2])
  return 1
end
return 0`;

// KEYS: receipt. ARGV: token. Marks the receipt done while it is still this call's.
const settleScript = `
local holder = redis.call('GET', KEYS[1])
if holder and string.match(holder, '^pending:([^:]+):') == ARGV[1] then
  redis.call('SET', KEYS[1], 'done:' .. ARGV[1], 'KEEPTTL')
  return 1
end
return 0`;

// KEYS: receipt. ARGV: take-over ms. 1 when the message was (or is being) received and a redelivery is a duplicate.
const takenScript = `
local holder = redis.call('GET', KEYS[1])
if not holder then return 0 end
local at = string.match(holder, '^pending:[^:]+:(%d+)$')
if not at then return 1 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if now - tonumber(at) > tonumber(ARGV[1]) then return 0 end
return 1`;

/** How long a receipt may stay pending (receipt written, message not yet enqueued) before a redelivery takes it over. */
export const receiptTakeOverMs = 2000;

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

  /**
   * Claims the receipt of a message about to be received; the token to {@link settle} it with once the message is
   * enqueued, or undefined for a duplicate. A receipt left pending longer than `takeOverMs` (its receiver died) is
   * taken over.
   */
  async claim(requestId: string, takeOverMs = receiptTakeOverMs): Promise<string | undefined> {
    const token = randomUUID();
    const claimed = await this.redis.eval(
      claimScript,
      1,
      this.keys.received(requestId),
      token,
      this.ttlSeconds,
      takeOverMs,
    );
    return claimed === 1 ? token : undefined;
  }

  /** Marks a claimed receipt done: the message is enqueued, every redelivery from now on is a duplicate. */
  async settle(requestId: string, token: string): Promise<void> {
    await this.redis.eval(settleScript, 1, this.keys.received(requestId), token);
  }

  /** True when the message was received, or is being received by a live receiver (reads only). */
  async isTaken(requestId: string, takeOverMs = receiptTakeOverMs): Promise<boolean> {
    return (await this.redis.eval(takenScript, 1, this.keys.received(requestId), takeOverMs)) === 1;
  }

  /** True when the message's receipt is settled: it was enqueued, and every redelivery is a duplicate (reads only). */
  async isSettled(requestId: string): Promise<boolean> {
    const holder = await this.redis.get(this.keys.received(requestId));
    return holder !== null && !holder.startsWith('pending:');
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
