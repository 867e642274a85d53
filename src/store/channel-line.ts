import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type ChannelEntry, channelEntrySchema } from '../contracts/channel-entry.ts';
import { parseContract } from '../contracts/contract-error.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';

// KEYS: line, joined-at hash. ARGV: request id, now ms, ttl seconds. Joins once (a redelivery keeps its place).
const joinScript = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('LLEN', KEYS[1])
`;

// KEYS: line, joined-at hash, entry. ARGV: request id.
const leaveScript = `
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return redis.call('LLEN', KEYS[1])
`;

// KEYS: line, joined-at hash, last answered. ARGV: entry key prefix, answered key prefix.
// Returns the head, when it joined, its entry (or false), whether it was answered and the request answered before
// it: one round trip per step.
const peekScript = `
local requestId = redis.call('LINDEX', KEYS[1], 0)
if not requestId then return false end
local joinedAt = redis.call('HGET', KEYS[2], requestId) or '0'
local entry = redis.call('GET', ARGV[1] .. requestId)
local answered = redis.call('EXISTS', ARGV[2] .. requestId)
local previous = redis.call('GET', KEYS[3])
return { requestId, joinedAt, entry, answered, previous }
`;

// KEYS: line, joined-at hash, entry, answered marker, last answered. ARGV: request id, ttl seconds.
const finishScript = `
redis.call('SET', KEYS[4], '1', 'EX', ARGV[2])
redis.call('SET', KEYS[5], ARGV[1], 'EX', ARGV[2])
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return redis.call('LLEN', KEYS[1])
`;

/** What the drain loop sees at the head of a channel's line. */
export interface LinePeek extends LineHead {
  /** The validated request, or `undefined` while its ingest is not done. */
  entry: ChannelEntry | undefined;
  /** True when its reply was already enqueued (a redelivery). */
  answered: boolean;
  /** The channel's request answered before it (its reply must reach the platform first), if any. */
  previousRequestId: string | undefined;
}

/** The head of a channel's line. */
export interface LineHead {
  requestId: string;
  /** When it joined the line (ms since epoch). */
  joinedAt: number;
}

/**
 * A channel's line (`line:<channelKey>`): request ids in arrival order. An id joins when the adapter receives the
 * message (so a slow image download cannot let a later message overtake it); the ingest worker then leaves the
 * validated request under `req:<id>`; the channel's single drain job answers the head and only then removes it, so a
 * worker killed mid-answer leaves the head in place for the next worker.
 */
export class ChannelLine {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** Puts the request at the end of its channel's line (once). */
  async join(channelKey: string, requestId: string, now = Date.now()): Promise<number> {
    return Number(
      await this.redis.eval(
        joinScript,
        2,
        this.keys.line(channelKey),
        this.keys.lineJoinedAt(channelKey),
        requestId,
        String(now),
        String(this.ttlSeconds),
      ),
    );
  }

  /** Leaves the validated (or rejected) request for the drain job. */
  async putEntry(entry: ChannelEntry): Promise<void> {
    const checked = channelEntrySchema.parse(entry);
    await this.redis.set(this.keys.entry(checked.request.id), JSON.stringify(checked), 'EX', this.ttlSeconds);
  }

  /** The request waiting under `req:<id>`, or `undefined` while its ingest is not done. */
  async entry(requestId: string): Promise<ChannelEntry | undefined> {
    const raw = await this.redis.get(this.keys.entry(requestId));
    return raw === null ? undefined : parseContract('ChannelEntry', channelEntrySchema, JSON.parse(raw));
  }

  /** The head of the line with its entry and answered flag, in one round trip. */
  async peek(channelKey: string): Promise<LinePeek | undefined> {
    const result = (await this.redis.eval(
      peekScript,
      3,
      this.keys.line(channelKey),
      this.keys.lineJoinedAt(channelKey),
      this.keys.lineLast(channelKey),
      this.keys.entry(''),
      this.keys.answered(''),
    )) as [string, string, string | null, number, string | null] | null;
    if (result === null) return undefined;
    const [requestId, joinedAt, entry, answered, previous] = result;
    return {
      requestId,
      joinedAt: Number(joinedAt),
      entry: entry === null ? undefined : parseContract('ChannelEntry', channelEntrySchema, JSON.parse(entry)),
      answered: answered === 1,
      previousRequestId: previous ?? undefined,
    };
  }

  /**
   * Records the request answered (and as the channel's last answered one) and removes it from the line, atomically;
   * returns how many remain.
   */
  async finish(channelKey: string, requestId: string): Promise<number> {
    return Number(
      await this.redis.eval(
        finishScript,
        5,
        this.keys.line(channelKey),
        this.keys.lineJoinedAt(channelKey),
        this.keys.entry(requestId),
        this.keys.answered(requestId),
        this.keys.lineLast(channelKey),
        requestId,
        String(this.ttlSeconds),
      ),
    );
  }

  /** Removes an answered (or abandoned) request from the line; returns how many remain. */
  async leave(channelKey: string, requestId: string): Promise<number> {
    return Number(
      await this.redis.eval(
        leaveScript,
        3,
        this.keys.line(channelKey),
        this.keys.lineJoinedAt(channelKey),
        this.keys.entry(requestId),
        requestId,
      ),
    );
  }

  /** How many requests of the channel are waiting (the head included). */
  async length(channelKey: string): Promise<number> {
    return await this.redis.llen(this.keys.line(channelKey));
  }

  /**
   * Counts one more generation attempt of the request and returns the count. Each attempt adds its own token to a
   * set, so the command sent again after a lost reply (Redis crashed after carrying it out) is not counted twice.
   */
  async countAttempt(requestId: string): Promise<number> {
    const key = this.keys.attempts(requestId);
    const result = await this.redis.multi().sadd(key, randomUUID()).expire(key, this.ttlSeconds).scard(key).exec();
    return Number(result?.[2]?.[1] ?? 0);
  }
}
