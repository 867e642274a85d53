import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { CliProcess } from '../support/cli-process.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { messageEvent } from '../support/fake-lark/lark-events.ts';
import { answerTo, botOpenId, user } from './lark-harness.ts';

// The commands as a user runs them: `start` with LARK_APP_ID set answers Lark messages in one process, and
// `adapter lark` with a wrong secret stops with one clear line and a non-zero exit.
describe('Lark through the CLI', () => {
  const appId = 'cli_a1b2c3d4e5f60005';
  const appSecret = 'secret-cli-0123';
  const fake = new FakeOpenPlatform({ appId, appSecret, botOpenId });
  const started: ChildProcess[] = [];
  beforeAll(async () => {
    await fake.start();
  });
  afterAll(async () => {
    for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
    await fake.close();
  });

  it('`start` with LARK_APP_ID runs the Lark adapter next to the rest and answers a Lark message', async () => {
    const run = new CliProcess(['start'], {
      LOG_LEVEL: 'info',
      WEB_PORT: String(await findFreePort()),
      MODEL_DIR: inject('tinyModelDir'),
      MAX_NEW_TOKENS: '6',
      LARK_APP_ID: appId,
      LARK_APP_SECRET: appSecret,
      LARK_DOMAIN: fake.url,
    });
    started.push(run.child);
    await fake.waitFor(() => fake.connections === 1 || run.child.exitCode !== null, 90_000, 'the long connection');
    expect(run.child.exitCode, run.text()).toBeNull();
    const event = messageEvent({
      chatId: 'oc_cli',
      chatType: 'p2p',
      sender: user('erin'),
      messageType: 'text',
      content: { text: '你好' },
    });
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id, 60_000);
    expect(answer.messages).toHaveLength(1);
    // The tiny model has random weights: the answer says so, and start warned about it.
    expect(answer.text).toContain(t('zh-CN', 'demo.banner'));
    expect(run.text()).toContain('DEMO MODEL ON A REAL PLATFORM');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.text()).not.toContain(appSecret);
  });

  it('`adapter lark` with a wrong secret exits non-zero with a clear message and no secret', async () => {
    const run = new CliProcess(['adapter', 'lark'], {
      LOG_LEVEL: 'info',
      REDIS_URL: inject('redisUrl'),
      METRICS_PORT: '0',
      LARK_APP_ID: appId,
      LARK_APP_SECRET: 'wrong-secret-value',
      LARK_DOMAIN: fake.url,
    });
    started.push(run.child);
    expect(await run.exited).toBe(1);
    expect(run.text()).toContain('refused the app credentials');
    expect(run.text()).not.toContain('wrong-secret-value');
  });

  it('`adapter lark` with an app id the long connection would ignore exits 2 naming LARK_APP_ID', async () => {
    const run = new CliProcess(['adapter', 'lark'], {
      LOG_LEVEL: 'info',
      REDIS_URL: inject('redisUrl'),
      LARK_APP_ID: 'my-app',
      LARK_APP_SECRET: 'x',
    });
    started.push(run.child);
    expect(await run.exited).toBe(2);
    expect(run.text()).toContain('LARK_APP_ID');
  });
});
