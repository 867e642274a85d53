import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { answerTo as discordAnswerTo, fakeGuilds, ids, person } from '../discord/discord-harness.ts';
import { botOpenId, answerTo as larkAnswerTo, user } from '../lark/lark-harness.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';
import { FakeDiscord } from '../support/fake-discord/fake-discord.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { messageEvent, postWebhookEvent } from '../support/fake-lark/lark-events.ts';
import { useTestRedis } from '../support/redis.ts';

// Secrets never reach the logs: one `start` process at LOG_LEVEL=trace (everything it can say) with every secret set
// to a distinctive value, running Discord, Lark (signed, encrypted webhook) and the web chat against the protocol
// fakes. Messages are exchanged on all three, platform calls fail (Discord 5xx past the REST retries, Lark 5xx),
// forged webhooks and wrong ops tokens are refused; then its whole stdout and stderr is searched for every secret,
// for the tenant access tokens the Lark fake issued, and for the base64 forms a header might carry.
//
// Related, already tested elsewhere: signatures are mandatory when LARK_ENCRYPT_KEY is set
// (test/lark/lark-webhook.test.ts "refuses forged, stale, unsigned, wrongly-tokened and plaintext events"); /metrics
// and Bull Board are closed without their tokens (test/ops/ops-endpoints.test.ts, test/ops/metrics-endpoint.test.ts).
describe('secrets never appear in the logs', () => {
  const redis = useTestRedis();
  const secrets = {
    DISCORD_TOKEN: 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GdScrT.discord-SECRET-token-7f3a9c',
    LARK_APP_SECRET: 'lark-SECRET-app-secret-4b8e21',
    LARK_ENCRYPT_KEY: 'lark-SECRET-encrypt-key-93d0c7',
    LARK_VERIFICATION_TOKEN: 'lark-SECRET-verification-token-5a1f',
    ADMIN_TOKEN: 'admin-SECRET-token-c2e884',
    METRICS_TOKEN: 'metrics-SECRET-token-0d6b52',
  } as const;
  const appId = 'cli_a1b2c3d4e5f6secr';
  const discord = new FakeDiscord({ guilds: fakeGuilds(), token: secrets.DISCORD_TOKEN });
  const lark = new FakeOpenPlatform({ appId, appSecret: secrets.LARK_APP_SECRET, botOpenId });
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await discord.listen();
    await lark.start();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await discord.close();
    await lark.close();
  });

  it('a full `start` at trace level, with traffic and failures on every platform, logs none of them', async () => {
    const webPort = await findFreePort();
    const webhookPort = await findFreePort();
    const run = new CliProcess(['start'], {
      LOG_LEVEL: 'trace',
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      MODEL_DIR: inject('tinyModelDir'),
      MAX_NEW_TOKENS: '6',
      WEB_PORT: String(webPort),
      DISCORD_API_URL: discord.apiUrl,
      LARK_APP_ID: appId,
      LARK_DOMAIN: lark.url,
      LARK_MODE: 'webhook',
      LARK_WEBHOOK_PORT: String(webhookPort),
      LARK_WEBHOOK_HOST: '127.0.0.1',
      LARK_IMAGE_WAIT_MS: '0',
      ...secrets,
    });
    children.push(run.child);
    const web = `http://127.0.0.1:${webPort}`;
    const webhook = `http://127.0.0.1:${webhookPort}/lark/events`;
    await discord.waitFor(() => discord.identifies.length > 0, 90_000, 'the Discord adapter to connect');
    await eventually(async () => (await fetch(`${web}/healthz`)).ok, 60_000, 'the web chat');
    await eventually(
      async () =>
        (await postWebhookEvent(webhook, { type: 'url_verification', challenge: 'c', token: 'x' })).status > 0,
      60_000,
      'the Lark webhook',
    );

    // Discord: one answer, then a reply that fails with 502 past discord.js's retries (BullMQ retries it).
    const asker = person('200000000000000077', 'sam');
    const first = discord.sendMessage({ channelId: ids.dm, author: asker, content: 'hello, secret-free world' });
    await discord.waitFor(() => discordAnswerTo(discord, ids.dm, first).length > 0, 60_000, 'the Discord answer');
    const failing = '100000000000000077';
    discord.fail({ method: 'POST', path: new RegExp(`^/channels/${failing}/messages$`), status: 502, times: 5 });
    const second = discord.sendMessage({ channelId: failing, author: asker, content: 'will the reply fail?' });
    await discord.waitFor(() => discordAnswerTo(discord, failing, second).length > 0, 60_000, 'the retried answer');

    // Lark: a signed, encrypted webhook event answered while the reply call fails once with 500; a forged one refused.
    lark.injections.push({
      method: 'POST',
      path: /\/reply$/,
      status: 500,
      body: { code: 1, msg: 'internal error' },
      times: 1,
    });
    const event = messageEvent({
      chatId: 'oc_secrets',
      chatType: 'p2p',
      sender: user('lee'),
      messageType: 'text',
      content: { text: 'hello from Lark' },
      verificationToken: secrets.LARK_VERIFICATION_TOKEN,
      appId,
    });
    expect((await postWebhookEvent(webhook, event, { encryptKey: secrets.LARK_ENCRYPT_KEY })).status).toBe(200);
    await larkAnswerTo(lark, event.event.message.message_id, 60_000);
    const forged = await postWebhookEvent(webhook, event, {
      encryptKey: secrets.LARK_ENCRYPT_KEY,
      signingKey: 'guess',
    });
    expect(forged.status).toBe(401);

    // Web: a message, and the ops endpoints with wrong and right tokens.
    const posted = await fetch(`${web}/api/channels/secrets/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Hello from the web' }),
    });
    expect(posted.status).toBe(202);
    expect((await fetch(`${web}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(
      (await fetch(`${web}/metrics`, { headers: { authorization: `Bearer ${secrets.METRICS_TOKEN}` } })).status,
    ).toBe(200);
    expect((await fetch(`${web}/admin/queues`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(
      (await fetch(`${web}/admin/queues`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).status,
    ).toBe(200);
    await run.waitForLog((line) => String(line['requestId'] ?? '').startsWith('web-secrets.'), 30_000);

    run.child.kill('SIGTERM');
    expect(await run.exited, run.text().slice(-3000)).toBe(0);

    const output = run.text();
    // What was logged is what this test is about: debug lines, the failed platform calls, the refused webhook.
    expect(output).toMatch(/"level":20/);
    expect(output).toContain('Lark call retried');
    expect(output).toContain('Bad Gateway');
    expect(output).toContain('Lark webhook request refused');
    const tenantTokens = [...(lark as unknown as { tokens: Set<string> }).tokens];
    expect(tenantTokens.length).toBeGreaterThan(0);
    const forbidden = [
      ...Object.values(secrets),
      ...tenantTokens,
      ...Object.values(secrets).map((secret) => Buffer.from(secret).toString('base64')),
      Buffer.from(`admin:${secrets.ADMIN_TOKEN}`).toString('base64'),
    ];
    for (const secret of forbidden) expect(output.includes(secret), `the logs contain ${secret}`).toBe(false);
    // The distinctive part of each secret on its own, in case one was cut or re-encoded around it.
    expect(output).not.toMatch(/SECRET-(token|app-secret|encrypt-key|verification-token)/);
  });
});
