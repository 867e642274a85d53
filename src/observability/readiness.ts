import type { Redis } from 'ioredis';
import { withTimeout } from './metrics.ts';

/** One readiness condition: true when met. A check that throws or takes over a second counts as not met. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

/** The answer of `/readyz`. */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, boolean>;
}

const checkTimeoutMs = 1000;

/**
 * What `/readyz` reports: named checks (`redis`, `model`, `platform`, ...), all of which must pass. Processes add the
 * checks that apply to them; a process with no checks is ready.
 */
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  /** Adds (or replaces) a named check. */
  add(name: string, check: ReadinessCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** Runs every check at once. */
  async report(): Promise<ReadinessReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const passed = await withTimeout(Promise.resolve().then(check), checkTimeoutMs).catch(() => false);
        return [name, passed === true] as const;
      }),
    );
    return { ready: entries.every(([, passed]) => passed), checks: Object.fromEntries(entries) };
  }
}

/**
 * Redis reachable: the connection is up and answers PING. The status is looked at first because a BullMQ connection
 * (`maxRetriesPerRequest: null`) queues commands while Redis is away instead of failing them.
 */
export function redisCheck(redis: Redis): ReadinessCheck {
  return async () => redis.status === 'ready' && (await redis.ping()) === 'PONG';
}

/** A flag a process sets once something it waits for is there (the model loaded, the platform connected). */
export class ReadyFlag {
  private value = false;

  /** Marks the condition as met (or, with `false`, as lost). */
  set(value = true): void {
    this.value = value;
  }

  /** The check for {@link Readiness.add}. */
  readonly check: ReadinessCheck = () => this.value;
}
