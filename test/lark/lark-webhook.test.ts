import { describe, expect, it } from 'vitest';
import { startLarkAdapter } from '../../adapters/lark/lark-adapter.ts';
import { LarkCredentialsError } from '../../adapters/lark/lark-api-error.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { messageEvent, newMessageId, postWebhookEvent } from '../support/fake-lark/lark-events.ts';
import { solidPng } from '../support/test-images.ts';
import { answerTo, botMention, pause, useLarkStack, user } from './lark-harness.ts';

// The webhook transport: the fake platform's sender posts encrypted, signed events to POST /lark/events.
describe('Lark adapter over the webhook (encrypted, signed; real SDK, Redis, BullMQ, tiny model)', () => {
  const appId = 'cli_a1b2c3d4e5f60004';
  const encryptKey = 'encrypt-key-for-tests';
  const verificationToken = 'verification-token-for-tests';
  const stack = useLarkStack({
    appId,
    appSecret: 'secret-webhook',
    webhook: { encryptKey, verificationToken },
    settings: { MAX_NEW_TOKENS: 12 },
  });
  const { fake, redis } = stack;
  const alice = user('alice');

  const event = (text: string) =>
    messageEvent({
      chatId: 'oc_hook',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text },
      verificationToken,
      appId,
    });

  it('answers an encrypted url_verification challenge', async () => {
    const response = await postWebhookEvent(
      stack.url,
      { type: 'url_verification', challenge: 'challenge-123', token: verificationToken },
      { encryptKey },
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ challenge: 'challenge-123' });
    const forged = await postWebhookEvent(
      stack.url,
      { type: 'url_verification', challenge: 'x', token: 'wrong' },
      { encryptKey },
    );
    expect(forged.status).toBe(401);
  });

  it('answers a signed, encrypted image message (downloaded after the 200, not before)', async () => {
    const messageId = newMessageId();
    fake.addResource(messageId, 'img_hook', await solidPng(10, 150, 200));
    const started = Date.now();
    const response = await postWebhookEvent(
      stack.url,
      messageEvent({
        messageId,
        chatId: 'oc_hook_group',
        chatType: 'group',
        sender: alice,
        messageType: 'post',
        mentions: [botMention()],
        verificationToken,
        content: {
          zh_cn: {
            title: '',
            content: [
              [
                { tag: 'at', user_id: '@_user_1', user_name: 'Ziya' },
                { tag: 'text', text: ' 这是什么？' },
                { tag: 'img', image_key: 'img_hook' },
              ],
            ],
          },
        },
      }),
      { encryptKey },
    );
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    await answerTo(fake, messageId);
    expect(stack.model.callOf(`lark-${messageId}`)?.request.image).toBeDefined();
    expect(stack.model.callOf(`lark-${messageId}`)?.request.question).toBe('这是什么？');
  });

  it('answers the same event posted 4 times exactly once', async () => {
    const payload = event('Hello, what can you do?');
    const statuses = [];
    for (let index = 0; index < 4; index += 1)
      statuses.push((await postWebhookEvent(stack.url, payload, { encryptKey })).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    await answerTo(fake, payload.event.message.message_id);
    await pause(500);
    expect(fake.repliesTo(payload.event.message.message_id)).toHaveLength(1);
  });

  it('refuses forged, stale, unsigned, wrongly-tokened and plaintext events with 401 and answers none', async () => {
    const forged = event('forged signature');
    expect((await postWebhookEvent(stack.url, forged, { encryptKey, signingKey: 'not-the-key' })).status).toBe(401);
    const stale = event('stale timestamp');
    expect(
      (await postWebhookEvent(stack.url, stale, { encryptKey, timestamp: Math.floor(Date.now() / 1000) - 900 })).status,
    ).toBe(401);
    const unsigned = event('no signature');
    expect((await postWebhookEvent(stack.url, unsigned, { encryptKey, unsigned: true })).status).toBe(401);
    const wrongToken = messageEvent({
      chatId: 'oc_hook',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'wrong token' },
      verificationToken: 'nope',
    });
    expect((await postWebhookEvent(stack.url, wrongToken, { encryptKey })).status).toBe(401);
    const plaintext = event('not encrypted');
    expect((await postWebhookEvent(stack.url, plaintext)).status).toBe(401);
    await pause(500);
    for (const payload of [forged, stale, unsigned, wrongToken, plaintext]) {
      expect(fake.repliesTo(payload.event.message.message_id)).toEqual([]);
      expect(stack.model.callOf(`lark-${payload.event.message.message_id}`)).toBeUndefined();
    }
  });

  it('refuses to start with a wrong app secret, with a clear error that does not contain the secret', async () => {
    const error = await startLarkAdapter(stack.pipeline, {
      settings: {
        appId,
        appSecret: 'definitely-wrong-secret',
        domain: fake.url,
        mode: 'webhook',
        verificationToken,
        webhookPort: 0,
      },
      eventsConnection: createRedisConnection(redis.url),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LarkCredentialsError);
    expect(String((error as Error).message)).toMatch(/credentials/);
    expect(String((error as Error).message)).not.toContain('definitely-wrong-secret');
  });
});
