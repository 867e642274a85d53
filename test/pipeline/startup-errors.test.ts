import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';

/** Is process `pid` still there? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The lines a process wrote that are not JSON log lines (what a person reads as its error). */
function plainLines(run: CliProcess): string[] {
  return run
    .text()
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('{'));
}

/** Runs `args` to its exit (within `boundMs`) and checks the one-line contract: one plain line, no stack frame. */
async function failsWithOneLine(
  args: string[],
  environment: Record<string, string>,
  boundMs: number,
): Promise<{ code: number | null; line: string }> {
  const run = new CliProcess(args, { LOG_LEVEL: 'info', ...environment });
  const timer = setTimeout(() => run.kill(), boundMs);
  const code = await run.exited;
  clearTimeout(timer);
  expect(run.child.signalCode, `killed after ${boundMs} ms:\n${run.text()}`).toBeNull();
  expect(run.text()).not.toMatch(/\bat .*:\d+:\d+/);
  const lines = plainLines(run);
  expect(lines, run.text()).toHaveLength(1);
  return { code, line: lines[0] ?? '' };
}

/** The pid files of `start`'s private redis-server under a cache dir. */
function redisPidRecords(cacheDirectory: string): Array<{ pid: number; parentPid: number }> {
  const directory = join(cacheDirectory, 'redis');
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(directory, name), 'utf8')) as { pid: number; parentPid: number });
}

/** A started `start`: waits until its web chat is ready. */
async function startReady(cacheDirectory: string): Promise<CliProcess> {
  const run = new CliProcess(['start'], {
    LOG_LEVEL: 'info',
    WEB_PORT: String(await findFreePort()),
    CACHE_DIR: cacheDirectory,
  });
  await run.waitForLog((line) => String(line['msg']).startsWith('web chat ready'), 90_000);
  return run;
}

describe('start-up errors: one line, no stack trace, a non-zero exit', () => {
  // One cache dir for the file: the demo model is built once.
  const cacheDirectory = mkdtempSync(join(tmpdir(), 'zvb-startup-'));
  const runs: CliProcess[] = [];
  afterAll(() => {
    for (const run of runs) run.kill();
    for (const { pid } of redisPidRecords(cacheDirectory)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(cacheDirectory, { recursive: true, force: true });
  });

  describe('a taken WEB_PORT', () => {
    let taken: Server;
    let port: number;
    beforeAll(async () => {
      port = await findFreePort();
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    });
    afterAll(() => taken.close());

    it('names the port and WEB_PORT, exits 1 and leaves no private redis-server', async () => {
      const { code, line } = await failsWithOneLine(
        ['start'],
        { WEB_PORT: String(port), CACHE_DIR: cacheDirectory },
        90_000,
      );
      expect(code).toBe(1);
      expect(line).toMatch(new RegExp(`Port 127\\.0\\.0\\.1:${port} is already in use.*WEB_PORT`));
      expect(redisPidRecords(cacheDirectory)).toEqual([]);
    });
  });

  it('an unreachable REDIS_URL: one line naming REDIS_URL after REDIS_WAIT_MS, exit 1', async () => {
    const started = Date.now();
    const { code, line } = await failsWithOneLine(
      ['start'],
      { REDIS_URL: 'redis://:hunter2@127.0.0.1:1', REDIS_WAIT_MS: '1500', CACHE_DIR: cacheDirectory },
      30_000,
    );
    expect(code).toBe(1);
    expect(line).toMatch(/^REDIS_URL redis:\/\/\*\*\*@127\.0\.0\.1:1 did not answer within 1\.5 s/);
    expect(line).not.toContain('hunter2');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('a malformed REDIS_URL (no scheme) is a configuration error, exit 2', async () => {
    for (const command of [['start'], ['worker']]) {
      const { code, line } = await failsWithOneLine(command, { REDIS_URL: 'localhost:6379x' }, 30_000);
      expect(code).toBe(2);
      expect(line).toMatch(/^Configuration: REDIS_URL is invalid \(expected redis:\/\//);
    }
  });

  it('worker and adapter web without REDIS_URL say so and exit 2', async () => {
    for (const command of [['worker'], ['adapter', 'web']]) {
      const { code, line } = await failsWithOneLine(command, {}, 30_000);
      expect(code).toBe(2);
      expect(line).toMatch(/REDIS_URL is unset.*REDIS_URL=redis:\/\//);
    }
  });

  it('start without redis-server on the PATH: how to install it, exit 1', async () => {
    const { code, line } = await failsWithOneLine(['start'], { PATH: '/nonexistent', REDIS_SERVER_BIN: '' }, 30_000);
    expect(code).toBe(1);
    expect(line).toMatch(/no redis-server is on PATH: install Redis \(apt-get install redis-server\)/);
  });

  it('SIGHUP (a closed terminal) shuts down within 5 s and stops the private redis-server', async () => {
    const run = await startReady(cacheDirectory);
    runs.push(run);
    const [record] = redisPidRecords(cacheDirectory).filter((entry) => entry.parentPid === run.child.pid);
    expect(record).toBeDefined();
    expect(alive(record?.pid ?? 0)).toBe(true);
    const signalled = Date.now();
    run.child.kill('SIGHUP');
    expect(await run.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(5000);
    expect(alive(record?.pid ?? 0)).toBe(false);
    expect(redisPidRecords(cacheDirectory)).toEqual([]);
  });

  it("the next start stops the redis-server a SIGKILLed start left behind, and nobody else's", async () => {
    const first = await startReady(cacheDirectory);
    runs.push(first);
    const [orphan] = redisPidRecords(cacheDirectory).filter((entry) => entry.parentPid === first.child.pid);
    expect(orphan).toBeDefined();
    first.kill();
    await first.exited;
    expect(alive(orphan?.pid ?? 0)).toBe(true);
    // A second start that is alive while the third one starts: its redis-server must survive.
    const second = await startReady(cacheDirectory);
    runs.push(second);
    await eventually(async () => !alive(orphan?.pid ?? 0), 10_000, 'the orphaned redis-server to be stopped');
    const [kept] = redisPidRecords(cacheDirectory).filter((entry) => entry.parentPid === second.child.pid);
    const third = await startReady(cacheDirectory);
    runs.push(third);
    expect(alive(kept?.pid ?? 0)).toBe(true);
    for (const run of [second, third]) run.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(await third.exited).toBe(0);
    expect(alive(kept?.pid ?? 0)).toBe(false);
  });
});
