import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, inject } from 'vitest';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';

/** A test file's Redis: a real connection and a random, hash-tagged prefix whose keys are deleted afterwards. */
export interface TestRedis {
  readonly url: string;
  readonly prefix: string;
  readonly connection: Redis;
}

/** Deletes every key under `prefix`. */
export async function deleteKeysUnder(connection: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await connection.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await connection.del(...keys);
  } while (cursor !== '0');
}

/** A fresh random prefix, e.g. `{zvbt-1f2e3d4c}`. */
export function randomPrefix(): string {
  return `{zvbt-${randomBytes(4).toString('hex')}}`;
}

/** Opens a connection in `beforeAll` and deletes the file's keys and closes it in `afterAll`. */
export function useTestRedis(): TestRedis {
  const state: { connection?: Redis } = {};
  const prefix = randomPrefix();
  const url = inject('redisUrl');
  beforeAll(async () => {
    state.connection = createRedisConnection(url);
    await state.connection.ping();
  });
  afterAll(async () => {
    if (state.connection === undefined) return;
    await deleteKeysUnder(state.connection, prefix);
    await state.connection.quit();
  });
  return {
    url,
    prefix,
    get connection(): Redis {
      if (state.connection === undefined) throw new Error('useTestRedis(): the connection opens in beforeAll');
      return state.connection;
    },
  };
}
