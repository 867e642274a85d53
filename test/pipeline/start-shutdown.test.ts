import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';

// Ctrl-C (SIGINT) or a stop (SIGTERM) of a plain `npm start` with nothing being answered: out in under 5 s, cleanly.
describe('start command shutdown with nothing active', () => {
  const cacheDirectory = mkdtempSync(join(tmpdir(), 'zvb-shutdown-'));
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(cacheDirectory, { recursive: true, force: true });
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('exits 0 within 5 s of %s', async (signal) => {
    const port = await findFreePort();
    const run = new CliProcess(['start'], { LOG_LEVEL: 'info', WEB_PORT: String(port), CACHE_DIR: cacheDirectory });
    started.push(run.child);
    await eventually(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
      120_000,
      `start ready on port ${port}\n${run.text()}`,
    );
    const redisUrl = /"url":"(redis:\/\/127\.0\.0\.1:\d+)"/.exec(run.text())?.[1];
    const signalled = performance.now();
    run.child.kill(signal);
    const code = await run.exited;
    const tookMs = performance.now() - signalled;
    expect(code, run.text()).toBe(0);
    expect(tookMs, `shutdown took ${tookMs.toFixed(0)} ms:\n${run.text()}`).toBeLessThan(5_000);
    expect(run.text()).toContain('shutting down');
    // Its private redis-server went with it.
    expect(redisUrl).toBeDefined();
    const redisPort = Number(redisUrl?.split(':').at(-1));
    const probe = await fetch(`http://127.0.0.1:${redisPort}`).then(
      () => 'open',
      () => 'closed',
    );
    expect(probe).toBe('closed');
  });
});
