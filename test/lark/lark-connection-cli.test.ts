import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { messageEvent } from '../support/fake-lark/lark-events.ts';
import { SseClient } from '../support/sse-client.ts';
import { answerTo, botOpenId, pause, user } from './lark-harness.ts';

/** `/readyz` of a process: its status and checks. */
async function readyz(base: string): Promise<{ status: number; checks: Record<string, boolean> }> {
  const response = await fetch(`${base}/readyz`);
  const body = (await response.json()) as { checks: Record<string, boolean> };
  return { status: response.status, checks: body.checks };
}

/** No Node stack trace ("    at f (file:line)") anywhere in a process's output. */
function expectNoStackTrace(output: string): void {
  expect(output).not.toMatch(/\n\s+at .+:\d+/);
  expect(output).not.toContain('"stack"');
}

// Issue 19: a Lark platform that does not let the bot connect must not take `start` down (it used to crash after
// ≈ 35 s with "no Lark long connection after 30000 ms" and a stack trace), and `adapter lark` retries a platform that
// is merely unreachable instead of exiting.
describe('Lark unreachable at start, through the CLI', () => {
  const started: ChildProcess[] = [];
  const fakes: FakeOpenPlatform[] = [];
  afterAll(async () => {
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    for (const fake of fakes) await fake.close();
  });

  it('`start`: the web chat answers while upgrades are refused; /readyz is false until Lark connects', {
    timeout: 120_000,
  }, async () => {
    const appId = 'cli_a1b2c3d4e5f60021';
    const appSecret = 'secret-cli-refused';
    const fake = await new FakeOpenPlatform({ appId, appSecret, botOpenId }).start();
    fakes.push(fake);
    // The platform's real reconnect interval: without the adapter's watchdog the SDK would retry in 2 minutes.
    fake.clientConfig = { PingInterval: 120, ReconnectCount: -1, ReconnectInterval: 120, ReconnectNonce: 0 };
    fake.refuseUpgrades = 1000;
    const port = await findFreePort();
    const run = new CliProcess(['start'], {
      LOG_LEVEL: 'info',
      WEB_PORT: String(port),
      MODEL_DIR: inject('tinyModelDir'),
      MAX_NEW_TOKENS: '6',
      LARK_APP_ID: appId,
      LARK_APP_SECRET: appSecret,
      LARK_DOMAIN: fake.url,
      LARK_CONNECT_TIMEOUT_MS: '1000',
      LARK_RECONNECT_STALL_MS: '2000',
    });
    started.push(run.child);
    const base = `http://127.0.0.1:${port}`;
    await run.waitForLog((line) => String(line['msg']).startsWith('web chat ready'), 90_000);
    await run.waitForLog((line) => String(line['msg']).startsWith('no Lark long connection after 1000 ms'), 20_000);
    // Past the old crash point's cause (the start timeout), the process serves on, not ready for Lark.
    await pause(1500);
    expect(run.child.exitCode, run.text()).toBeNull();
    const gap = await readyz(base);
    expect(gap.status).toBe(503);
    expect(gap.checks['lark']).toBe(false);
    expect(gap.checks['model']).toBe(true);
    // The web chat answers during the gap.
    const stream = new SseClient(`${base}/api/channels/lobby/events`);
    await stream.ready();
    const posted = (await (
      await fetch(`${base}/api/channels/lobby/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Is the web chat still answering?' }),
      })
    ).json()) as { requestId: string };
    expect((await stream.reply(posted.requestId)).requestId).toBe(posted.requestId);
    stream.close();
    // A Lark message sent during the gap waits on the platform; then the platform lets the bot in.
    const event = messageEvent({
      chatId: 'oc_cli_gap',
      chatType: 'p2p',
      sender: user('ivan'),
      messageType: 'text',
      content: { text: '你好' },
    });
    fake.pushEvent(event);
    expect(fake.upgradesRefused).toBeGreaterThanOrEqual(2);
    fake.refuseUpgrades = 0;
    // Stall (2 s) + backoff (≤ 2 × 2 s after a few failed replacements) + a check interval.
    await eventually(async () => (await readyz(base)).status === 200, 10_000, '/readyz 200 once Lark connected');
    expect((await readyz(base)).checks['lark']).toBe(true);
    const answer = await answerTo(fake, event.event.message.message_id, 60_000);
    expect(answer.messages).toHaveLength(1);
    await pause(500);
    expect(fake.repliesTo(event.event.message.message_id)).toHaveLength(1);
    expect(run.logLines().filter((line) => String(line['msg']).startsWith('no Lark long connection'))).toHaveLength(1);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expectNoStackTrace(run.text());
    expect(run.text()).not.toContain(appSecret);
  });

  it('`adapter lark` stopped while it waits for an unreachable platform exits 0 at once', async () => {
    const run = new CliProcess(['adapter', 'lark'], {
      LOG_LEVEL: 'info',
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `zvb-test-lark-stop-${Date.now()}`,
      METRICS_PORT: '0',
      LARK_APP_ID: 'cli_a1b2c3d4e5f60023',
      LARK_APP_SECRET: 'secret-cli-stop',
      LARK_DOMAIN: `http://127.0.0.1:${await findFreePort()}`,
    });
    started.push(run.child);
    await run.waitForLog((line) => String(line['msg']).startsWith('Lark platform unreachable'), 30_000);
    const stoppedAt = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    expectNoStackTrace(run.text());
  });

  it('`adapter lark`: an unreachable platform is retried (not ready meanwhile), then it connects', {
    timeout: 90_000,
  }, async () => {
    const appId = 'cli_a1b2c3d4e5f60022';
    const appSecret = 'secret-cli-unreachable';
    const larkPort = await findFreePort();
    const run = new CliProcess(['adapter', 'lark'], {
      LOG_LEVEL: 'info',
      REDIS_URL: inject('redisUrl'),
      QUEUE_PREFIX: `zvb-test-lark-unreachable-${Date.now()}`,
      METRICS_PORT: '0',
      LARK_APP_ID: appId,
      LARK_APP_SECRET: appSecret,
      LARK_DOMAIN: `http://127.0.0.1:${larkPort}`,
    });
    started.push(run.child);
    const listening = await run.waitForLog((line) => String(line['msg']).includes('/readyz listening'), 30_000);
    const base = String(listening['url']);
    await run.waitForLog((line) => String(line['msg']).startsWith('Lark platform unreachable'), 30_000);
    expect(run.child.exitCode, run.text()).toBeNull();
    expect((await readyz(base)).status).toBe(503);
    const fake = await new FakeOpenPlatform({ appId, appSecret, botOpenId }).start(larkPort);
    fakes.push(fake);
    await eventually(async () => (await readyz(base)).status === 200, 30_000, '/readyz 200 once Lark answered');
    expect(fake.connections).toBe(1);
    expect(run.logLines().filter((line) => String(line['msg']).startsWith('Lark platform unreachable'))).toHaveLength(
      1,
    );
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expectNoStackTrace(run.text());
  });
});
