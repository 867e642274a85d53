import { Client, DefaultCache } from '@larksuiteoapi/node-sdk';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpInstanceWithTimeout } from '../../adapters/lark/http-timeout.ts';
import { LarkApi } from '../../adapters/lark/lark-api.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';

// The SDK sets no timeout: a call whose answer never comes would hold its delivery or ingest job forever.
describe('Lark API calls that hang', () => {
  const appId = 'cli_a1b2c3d4e5f6timeout';
  const appSecret = 'secret-timeout';
  const fake = new FakeOpenPlatform({ appId, appSecret, botOpenId: 'ou_bot' });
  let api: LarkApi;
  beforeAll(async () => {
    await fake.start();
    const client = new Client({
      appId,
      appSecret,
      domain: fake.url,
      cache: new DefaultCache(),
      httpInstance: httpInstanceWithTimeout(300),
    });
    api = new LarkApi(client, {
      attempts: 3,
      retryDelayMs: 10,
      maxImageBytes: 1 << 20,
      logger: pino({ level: 'silent' }),
    });
  });
  afterAll(async () => await fake.close());

  it('retries a reply whose answer never came, and the uuid keeps it to one message', async () => {
    const path = /^\/open-apis\/im\/v1\/messages\/[^/]+\/reply$/;
    fake.injections.push({ method: 'POST', path, status: 500, body: {}, times: 1, afterCommit: true, hang: true });
    const started = Date.now();
    await api.reply('om_user_1', 'text', JSON.stringify({ text: 'hi' }), 'uuid-timeout-1');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(fake.repliesTo('om_user_1')).toHaveLength(1);
  });

  it('retries an image download that hangs', async () => {
    fake.addResource('om_user_2', 'img_1', Buffer.from('png bytes'));
    const path = /^\/open-apis\/im\/v1\/messages\/[^/]+\/resources\/[^/]+$/;
    fake.injections.push({ method: 'GET', path, status: 500, body: {}, times: 1, hang: true });
    expect(Buffer.from(await api.downloadImage('om_user_2', 'img_1')).toString()).toBe('png bytes');
  });
});
