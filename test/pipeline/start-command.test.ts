import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { CliProcess } from '../support/cli-process.ts';
import { SseClient } from '../support/sse-client.ts';

// `npm start` with nothing configured: private redis-server, demo model built into the cache dir, web chat.
describe('start command', () => {
  const cacheDirectory = mkdtempSync(join(tmpdir(), 'zvb-start-'));
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(cacheDirectory, { recursive: true, force: true });
  });

  it('runs everything in one process, answers through the web chat and shuts down on SIGTERM', async () => {
    const port = await findFreePort();
    const run = new CliProcess(['start'], {
      LOG_LEVEL: 'info',
      WEB_PORT: String(port),
      CACHE_DIR: cacheDirectory,
      MAX_NEW_TOKENS: '8',
    });
    started.push(run.child);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 90_000;
    let info: Record<string, unknown> | undefined;
    while (info === undefined && Date.now() < deadline && run.child.exitCode === null) {
      info = await fetch(`${base}/api/info`)
        .then((response) => response.json() as Promise<Record<string, unknown>>)
        .catch(() => undefined);
      if (info === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(info, run.text()).toMatchObject({ demo: true, modelId: expect.stringMatching(/^random-tiny-s0-fp32\b/) });
    expect(run.text()).toContain('REDIS_URL unset: started a private redis-server');
    expect(run.text()).toContain('random weights');
    const stream = new SseClient(`${base}/api/channels/lobby/events`);
    await stream.ready();
    const posted = (await (
      await fetch(`${base}/api/channels/lobby/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: '你好，今天天气怎么样？' }),
      })
    ).json()) as { requestId: string };
    const reply = await stream.reply(posted.requestId);
    expect(reply['language']).toBe('zh-CN');
    stream.close();
    const redisUrl = /"url":"(redis:\/\/127\.0\.0\.1:\d+)"/.exec(run.text())?.[1];
    expect(redisUrl).toBeDefined();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.text()).toContain('shutting down');
    // The private redis-server went with it.
    const redisPort = Number(redisUrl?.split(':').at(-1));
    const probe = await fetch(`http://127.0.0.1:${redisPort}`).then(
      () => 'open',
      () => 'closed',
    );
    expect(probe).toBe('closed');
  });

  it('names a bad variable in a one-line error and exits 2', async () => {
    const bad = new CliProcess(['worker'], { LOG_LEVEL: 'info', WEB_PORT: 'eighty' });
    expect(await bad.exited).toBe(2);
    expect(bad.text()).toMatch(/Configuration: WEB_PORT is invalid/);
  });
});
