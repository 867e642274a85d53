import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { type ContextTurn, contextTurnSchema } from './context-turn.ts';
import { estimateTokens } from './estimate-tokens.ts';

// Appends a request's turns once: the request id set makes a second append (a redelivered request) a no-op that
// returns the turns as stored, so the caller can answer with what was stored rather than its own second answer.
// KEYS: turns list, request id set. ARGV: request id, ttl seconds, max turns, turn JSON...
const appendOnceScript = `
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return redis.call('LRANGE', KEYS[1], 0, -1) end
for index = 4, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[index]) end
local maxTurns = tonumber(ARGV[3])
if maxTurns > 0 then redis.call('LTRIM', KEYS[1], -maxTurns, -1) else redis.call('DEL', KEYS[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
`;

/** What `ContextStore.append` did. */
export interface ContextAppend {
  appended: boolean;
  /** The request's turns as stored now. */
  stored: ContextTurn[];
}

/** The stored turns that parse, in order (a turn of an older, incompatible shape is skipped). */
function parseTurns(raw: readonly string[]): ContextTurn[] {
  const turns: ContextTurn[] = [];
  for (const item of raw) {
    const parsed = contextTurnSchema.safeParse(JSON.parse(item));
    if (parsed.success) turns.push(parsed.data);
  }
  return turns;
}

/** Limits of a channel's kept conversation. */
export interface ContextLimits {
  ttlSeconds: number;
  maxTurns: number;
  maxTokens: number;
}

/** Per-channel conversation turns (`ctx:<channelKey>`): bounded, expiring, appended once per request, resettable. */
export class ContextStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly limits: ContextLimits,
  ) {}

  /** The channel's turns, oldest first, the oldest dropped until they fit the token budget. */
  async load(channelKey: string): Promise<ContextTurn[]> {
    const turns = parseTurns(await this.redis.lrange(this.keys.context(channelKey), 0, -1));
    let tokens = turns.reduce((sum, turn) => sum + estimateTokens(turn.text), 0);
    while (turns.length > 0 && tokens > this.limits.maxTokens) {
      tokens -= estimateTokens(turns.shift()?.text ?? '');
    }
    return turns;
  }

  /**
   * Appends a request's turns unless that request was appended already. `stored` is the request's turns as the
   * store now holds them: these when appended, else the earlier append's (empty if they were trimmed or reset since).
   */
  async append(channelKey: string, requestId: string, turns: readonly ContextTurn[]): Promise<ContextAppend> {
    const result = await this.redis.eval(
      appendOnceScript,
      2,
      this.keys.context(channelKey),
      this.keys.contextRequestIds(channelKey),
      requestId,
      String(this.limits.ttlSeconds),
      String(this.limits.maxTurns),
      ...turns.map((turn) => JSON.stringify(contextTurnSchema.parse(turn))),
    );
    if (result === 1) return { appended: true, stored: [...turns] };
    const stored = parseTurns(result as string[]).filter((turn) => turn.requestId === requestId);
    return { appended: false, stored };
  }

  /** Forgets the channel's conversation. */
  async reset(channelKey: string): Promise<void> {
    await this.redis.del(this.keys.context(channelKey), this.keys.contextRequestIds(channelKey));
  }
}
