import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';

/** Per-user and per-channel message limits over a sliding window; 0 turns a limit off. */
export interface RateLimits {
  /** Messages one user may send per window (across channels). @defaultValue 12 */
  userPerWindow: number;
  /** Messages one channel may receive per window (from everyone). @defaultValue 30 */
  channelPerWindow: number;
  /** @defaultValue 60000 */
  windowMs: number;
}

/** What became of one message at the limiter. */
export type RateDecision =
  | { allowed: true }
  /** Over a limit. `notify`: the first refusal of its window for this scope (answered once; the rest are dropped). */
  | { allowed: false; scope: 'user' | 'channel'; notify: boolean };

// A sliding-window log per key (a sorted set of message ids scored by arrival time, in Redis's own clock so every
// adapter replica agrees): entries older than the window are trimmed, the message is admitted only when both the
// user's and the channel's counts are under their limits, and only admitted messages are counted. A refused message
// takes the notice slot (`SET NX PX window`) of what limited it (the user in this channel, or the channel): one
// "slow down" reply per window, not one per dropped message. The script is safe to run twice for one message (ioredis
// sends it again when its reply was lost to a Redis crash): an admitted member is admitted again, and the notice slot
// holds the member that took it.
//
// KEYS: user log, channel log, user-in-channel notice flag, channel notice flag. ARGV: member, user limit, channel limit, window ms.
// Returns 0 (admitted), or 1/2 (user/channel limit) plus 10 when this refusal took the notice slot.
const slidingWindowScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[4])
local limits = { tonumber(ARGV[2]), tonumber(ARGV[3]) }
for index = 1, 2 do
  if limits[index] > 0 and redis.call('ZSCORE', KEYS[index], ARGV[1]) then return 0 end
end
for index = 1, 2 do
  if limits[index] > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[index], '-inf', now - window)
    if redis.call('ZCARD', KEYS[index]) >= limits[index] then
      local notice = redis.call('SET', KEYS[index + 2], ARGV[1], 'PX', window, 'NX')
      if notice or redis.call('GET', KEYS[index + 2]) == ARGV[1] then return index + 10 end
      return index
    end
  end
end
for index = 1, 2 do
  if limits[index] > 0 then
    redis.call('ZADD', KEYS[index], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[index], window)
  end
end
return 0
`;

/** Redis-backed per-user and per-channel rate limits shared by every adapter replica. */
export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly limits: RateLimits,
  ) {}

  /** Counts message `requestId` of `userKey` in `channelKey` against both limits, atomically. */
  async admit(userKey: string, channelKey: string, requestId: string): Promise<RateDecision> {
    const { userPerWindow, channelPerWindow, windowMs } = this.limits;
    if (userPerWindow <= 0 && channelPerWindow <= 0) return { allowed: true };
    const result = Number(
      await this.redis.eval(
        slidingWindowScript,
        4,
        this.keys.rateUser(userKey),
        this.keys.rateChannel(channelKey),
        this.keys.rateNotice(`${channelKey}|${userKey}`),
        this.keys.rateNotice(channelKey),
        requestId,
        userPerWindow,
        channelPerWindow,
        windowMs,
      ),
    );
    if (result === 0) return { allowed: true };
    return { allowed: false, scope: result % 10 === 1 ? 'user' : 'channel', notify: result > 10 };
  }
}
