import type { TestProject } from 'vitest/node';
import { startPrivateRedisServer } from '../../src/redis/private-redis-server.ts';
import { redisAnswers } from '../../src/redis/redis-connection.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Redis every test file uses (with its own random prefix). */
    redisUrl: string;
  }
}

/** Provides `redisUrl`: REDIS_URL when set, else 127.0.0.1:6379 when it answers, else a private redis-server. */
export async function setupTestRedis(project: TestProject): Promise<() => Promise<void>> {
  const fromEnvironment = process.env['REDIS_URL'];
  if (fromEnvironment) {
    project.provide('redisUrl', fromEnvironment);
    return async () => {};
  }
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) {
    project.provide('redisUrl', local);
    return async () => {};
  }
  const server = await startPrivateRedisServer();
  project.provide('redisUrl', server.url);
  return async () => await server.stop();
}
