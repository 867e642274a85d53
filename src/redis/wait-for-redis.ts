import { StartupError } from '../cli/startup-error.ts';
import type { Logger } from '../observability/logger.ts';
import { redactRedisUrl } from './redact-redis-url.ts';
import { redisAnswers } from './redis-connection.ts';

/**
 * Waits until the Redis at `url` (REDIS_URL) answers PING, for at most `waitMs`; logs one line when it does not at
 * first, and throws a {@link StartupError} naming REDIS_URL when it still does not after `waitMs`.
 */
export async function waitForRedis(url: string, waitMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + waitMs;
  let warned = false;
  while (!(await redisAnswers(url))) {
    if (Date.now() >= deadline) {
      throw new StartupError(
        `REDIS_URL ${redactRedisUrl(url)} did not answer within ${waitMs / 1000} s: start Redis there, fix REDIS_URL, or unset it to let \`start\` run a private redis-server (REDIS_WAIT_MS sets the wait)`,
      );
    }
    if (!warned) {
      logger.warn(
        { redisUrl: redactRedisUrl(url), waitMs },
        'REDIS_URL does not answer yet: waiting for it (REDIS_WAIT_MS)',
      );
      warned = true;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(500, Math.max(0, deadline - Date.now()))));
  }
}

/** The REDIS_URL a worker or adapter needs, or a {@link StartupError} saying why it is required. */
export function requireRedisUrl(url: string | undefined, role: string): string {
  if (url !== undefined) return url;
  throw new StartupError(
    `${role}: REDIS_URL is unset. It shares Redis with the other processes (set REDIS_URL=redis://host:6379); \`start\` runs everything in one process with a private Redis instead`,
    2,
  );
}
