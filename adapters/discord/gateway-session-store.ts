import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { RedisKeys } from '../../src/redis/redis-keys.ts';

/** One shard's Discord gateway session: what a RESUME needs, and when it was last written. */
export const storedGatewaySessionSchema = z.object({
  shardId: z.number().int().min(0),
  shardCount: z.number().int().min(1),
  sessionId: z.string().min(1),
  /** The last sequence whose events this bot has taken (received and recorded): a RESUME replays what follows. */
  sequence: z.number().int().min(0),
  resumeUrl: z.string().min(1),
  /** When the sequence was last written (ms): how long a gap is when the session can no longer be resumed. */
  savedAt: z.number(),
});

/** One shard's Discord gateway session. */
export type StoredGatewaySession = z.infer<typeof storedGatewaySessionSchema>;

/** How long a stored session is kept: Discord lets a session be resumed for minutes, not days. */
const sessionTtlSeconds = 24 * 60 * 60;

// KEYS: the sessions hash. ARGV: shard id, session id. Deletes the shard's entry only while it holds that session.
const forgetScript = `
local text = redis.call('HGET', KEYS[1], ARGV[1])
if text and cjson.decode(text).sessionId == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

/** The Discord gateway sessions in Redis, one per shard, shared by the adapter and its replacement. */
export class GatewaySessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Every stored session (a session that does not parse is left out). */
  async loadAll(): Promise<StoredGatewaySession[]> {
    const fields = await this.redis.hgetall(this.keys.discordSessions());
    return Object.values(fields).flatMap((text) => {
      try {
        const parsed = storedGatewaySessionSchema.safeParse(JSON.parse(text));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    });
  }

  /** Writes a shard's session. */
  async save(session: StoredGatewaySession): Promise<void> {
    const key = this.keys.discordSessions();
    await this.redis
      .multi()
      .hset(key, String(session.shardId), JSON.stringify(session))
      .expire(key, sessionTtlSeconds)
      .exec();
  }

  /** Forgets a shard's session if it is still `sessionId` (the running adapter may have written its own since). */
  async forget(shardId: number, sessionId: string): Promise<void> {
    await this.redis.eval(forgetScript, 1, this.keys.discordSessions(), String(shardId), sessionId);
  }
}
