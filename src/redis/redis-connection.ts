import { Redis, type RedisOptions } from 'ioredis';

/** Options BullMQ workers and QueueEvents need on their connections (blocking commands retry forever). */
const connectionDefaults = { maxRetriesPerRequest: null, enableReadyCheck: true } as const satisfies RedisOptions;

/** Opens an ioredis connection to `url` fit for BullMQ (no ioredis `keyPrefix`: BullMQ's `prefix` is used). */
export function createRedisConnection(
  url: string,
  options: RedisOptions = {},
  onError: (error: Error) => void = () => {},
): Redis {
  const connection = new Redis(url, { ...connectionDefaults, ...options });
  // ioredis prints unhandled connection errors itself; they are reconnect noise here (workers report their own).
  connection.on('error', onError);
  return connection;
}

/** True when a Redis answers PING at `url` right now: one try, no reconnects, no error printed. */
export async function redisAnswers(url: string, connectTimeoutMs = 1000): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: connectTimeoutMs,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
