import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { RateLimiter } from '../../src/store/rate-limiter.ts';
import type { RecordingChatModel } from '../support/recording-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { WebChatStack } from '../support/web-chat-stack.ts';

// Per-user and per-channel rate limits in the platform-neutral receive path (real Redis, BullMQ, the tiny model,
// through the web adapter): over a limit the first message of the window is answered, in order, with the localized
// `rate_limited` reply; the rest are dropped (the web API says 429); redeliveries do not count.
describe('rate limits', () => {
  const redis = useTestRedis();
  let stack: WebChatStack;
  let pipeline: PipelineContext;
  let model: RecordingChatModel;

  beforeAll(async () => {
    stack = await WebChatStack.start(
      redis,
      {
        MAX_NEW_TOKENS: 4,
        RATE_LIMIT_USER_PER_MINUTE: 3,
        RATE_LIMIT_CHANNEL_PER_MINUTE: 5,
      },
      { embeddingCache: false },
    );
    ({ pipeline, model } = stack);
  });
  afterAll(() => stack?.close());

  const openChannel = (channel: string) => stack.openChannel(channel);
  const post = (channel: string, body: Record<string, unknown>) => stack.post(channel, body);

  it('per user: 3 answered, the 4th told to slow down (in Chinese, in order), the 5th and 6th dropped with 429', async () => {
    const stream = await openChannel('burst');
    const results = [];
    for (let index = 0; index < 6; index += 1) {
      results.push(
        await post('burst', { text: `第${index + 1}个问题：天空是什么颜色？`, clientMessageId: `m${index}` }),
      );
    }
    expect(results.map((result) => result.status)).toEqual([202, 202, 202, 202, 429, 429]);
    expect(results[4]?.json).toMatchObject({ error: 'rate_limited', message: errorMessage('zh-CN', 'rate_limited') });
    const replies = [];
    for (let index = 0; index < 4; index += 1) replies.push(await stream.reply(`web-burst.m${index}`));
    expect(replies.slice(0, 3).map((reply) => reply['error'])).toEqual([undefined, undefined, undefined]);
    expect(replies[3]).toMatchObject({
      error: 'rate_limited',
      language: 'zh-CN',
      text: errorMessage('zh-CN', 'rate_limited'),
    });
    // In order: the slow-down reply comes after the three answers.
    const order = stream.events
      .filter((event) => event.event === 'reply')
      .map((event) => (event.data as { requestId: string }).requestId);
    expect(order).toEqual(['web-burst.m0', 'web-burst.m1', 'web-burst.m2', 'web-burst.m3']);
    expect(model.calls.map((call) => call.request.requestId)).not.toContain('web-burst.m3');
    for (const dropped of ['web-burst.m4', 'web-burst.m5']) {
      expect(model.callOf(dropped)).toBeUndefined();
      expect(await pipeline.line.entry(dropped)).toBeUndefined();
    }
    // The user is limited in another channel too (the limit is per user), and is told there once.
    const other = await openChannel('elsewhere');
    const first = await post('elsewhere', { text: 'And here?', clientMessageId: 'e0' });
    const second = await post('elsewhere', { text: 'And here again?', clientMessageId: 'e1' });
    expect([first.status, second.status]).toEqual([202, 429]);
    expect(await other.reply('web-elsewhere.e0')).toMatchObject({
      error: 'rate_limited',
      text: errorMessage('en', 'rate_limited'),
    });
  });

  it('commands are exempt: /reset while limited is answered and forgets the conversation', async () => {
    const stream = await openChannel('limited-reset');
    const at = new Date().toISOString();
    await pipeline.contexts.append('web:limited-reset', 'seeded', [
      { requestId: 'seeded', role: 'user', text: 'Earlier question', language: 'en', at },
      { requestId: 'seeded', role: 'assistant', text: 'Earlier answer', language: 'en', at },
    ]);
    // The web user used up its minute in the first test: a question is refused (this channel is told once)...
    expect((await post('limited-reset', { text: 'One more question?', clientMessageId: 'q0' })).status).toBe(202);
    expect((await stream.reply('web-limited-reset.q0'))['error']).toBe('rate_limited');
    expect((await post('limited-reset', { text: 'And another?', clientMessageId: 'q1' })).status).toBe(429);
    // ...but a /reset, through the reset endpoint or typed, is taken and answered.
    const reset = await fetch(`${stack.web.url}/api/channels/limited-reset/reset`, { method: 'POST' });
    expect(reset.status).toBe(202);
    const { requestId } = (await reset.json()) as { requestId: string };
    const reply = await stream.reply(requestId);
    expect(reply['error']).toBeUndefined();
    expect(reply['text']).toBe(t(reply['language'] as string, 'reset.done'));
    expect(await pipeline.contexts.load('web:limited-reset')).toEqual([]);
    const typed = await post('limited-reset', { text: '/help', clientMessageId: 'h0' });
    expect(typed.status).toBe(202);
    expect((await stream.reply('web-limited-reset.h0'))['text']).toBe(t('en', 'help.web'));
  });

  it('redeliveries of a message do not count against the limit', async () => {
    const limiter = new RateLimiter(redis.connection, new RedisKeys(`${redis.prefix}-dup`), {
      userPerWindow: 2,
      channelPerWindow: 0,
      windowMs: 60_000,
    });
    const dupPipeline = { ...testPipeline(redis.connection, `${redis.prefix}-dup`), rateLimiter: limiter };
    const message = (id: string) => ({
      platform: 'web' as const,
      platformMessageId: id,
      channelKey: 'web:dup',
      replyTarget: { channel: 'dup' },
      user: { id: 'someone', name: 'Someone' },
      text: 'hello',
      attachments: [],
      adapterInstance: 'test',
    });
    try {
      const outcomes = [];
      for (const id of ['a', 'a', 'a', 'a', 'b', 'c', 'd'])
        outcomes.push(await receiveMessage(dupPipeline, message(id)));
      expect(outcomes.map((outcome) => [outcome.duplicate, outcome.rateLimited])).toEqual([
        [false, undefined],
        [true, undefined],
        [true, undefined],
        [true, undefined],
        [false, undefined],
        [false, 'notified'],
        [false, 'dropped'],
      ]);
    } finally {
      await dupPipeline.queues.close();
    }
  });

  it('per channel: many users in one channel, over 5 a minute: one slow-down reply, the rest dropped', async () => {
    const stream = await openChannel('crowd');
    const outcomes = [];
    for (let index = 0; index < 8; index += 1) {
      outcomes.push(
        await receiveMessage(pipeline, {
          platform: 'web',
          platformMessageId: `crowd.u${index}`,
          channelKey: 'web:crowd',
          replyTarget: { channel: 'crowd' },
          user: { id: `user-${index}`, name: `User ${index}` },
          text: `Question number ${index + 1}, what is two plus two?`,
          attachments: [],
          adapterInstance: 'test',
        }),
      );
    }
    expect(outcomes.map((outcome) => outcome.rateLimited ?? 'accepted')).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'notified',
      'dropped',
      'dropped',
    ]);
    const notice = await stream.reply('web-crowd.u5');
    expect(notice).toMatchObject({ error: 'rate_limited', language: 'en', text: errorMessage('en', 'rate_limited') });
    for (let index = 0; index < 5; index += 1) {
      expect((await stream.reply(`web-crowd.u${index}`))['error']).toBeUndefined();
    }
    expect(stream.events.filter((event) => event.event === 'reply')).toHaveLength(6);
  });

  it('the window slides: refused messages are not counted, and a message is admitted again once the window passed', async () => {
    const limiter = new RateLimiter(redis.connection, new RedisKeys(`${redis.prefix}-slide`), {
      userPerWindow: 2,
      channelPerWindow: 0,
      windowMs: 400,
    });
    const decisions = [];
    for (const id of ['1', '2', '3', '4']) decisions.push(await limiter.admit('web:u', 'web:c', id));
    expect(decisions).toEqual([
      { allowed: true },
      { allowed: true },
      { allowed: false, scope: 'user', notify: true },
      { allowed: false, scope: 'user', notify: false },
    ]);
    expect(await redis.connection.zcard(`${redis.prefix}-slide:rate-user:web:u`)).toBe(2);
    // Wait until Redis itself says the window has passed (no wall-clock guess on this side).
    const [seconds, micros] = await redis.connection.time();
    const start = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    for (;;) {
      const [nowSeconds, nowMicros] = await redis.connection.time();
      if (Number(nowSeconds) * 1000 + Math.floor(Number(nowMicros) / 1000) > start + 450) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await limiter.admit('web:u', 'web:c', '5')).toEqual({ allowed: true });
    expect(await redis.connection.zcard(`${redis.prefix}-slide:rate-user:web:u`)).toBe(1);
  });
});
