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
