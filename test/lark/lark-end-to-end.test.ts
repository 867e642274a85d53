import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LarkAdapter, startLarkAdapter } from '../../adapters/lark/lark-adapter.ts';
import type { ReceiveOutcome } from '../../adapters/lark/receive-event.ts';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { messageEvent, newMessageId } from '../support/fake-lark/lark-events.ts';
import { RecordingChatModel } from '../support/recording-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { answerTo, botMention, botOpenId, pause, user } from './lark-harness.ts';

// The whole path over the long connection: the real SDK WSClient ← protobuf frames from the fake platform →
// dedupe + enqueue → ingest (messageResource.get) → the real tiny ZiyaChatModel → CardKit card / reply.
describe('Lark adapter end to end over the long connection (real SDK, Redis, BullMQ, tiny model)', () => {
  const redis = useTestRedis();
  const appId = 'cli_a1b2c3d4e5f60001';
  const fake = new FakeOpenPlatform({ appId, appSecret: 'secret-e2e', botOpenId });
  const alice = user('alice');
  const bob = user('bob');
  const outcomes: ReceiveOutcome[] = [];
  let pipeline: PipelineContext;
  let model: RecordingChatModel;
  let worker: Worker;
  let adapter: LarkAdapter;

  beforeAll(async () => {
    await fake.start();
    pipeline = testPipeline(redis.connection, redis.prefix, { IMAGE_MAX_BYTES: 256 * 1024, MAX_NEW_TOKENS: 16 });
    model = new RecordingChatModel(
      await ZiyaChatModel.load(inject('tinyModelDir'), {
        executionProvider: 'cpu',
        threads: 1,
        embeddingCache: pipeline.embeddings,
      }),
    );
    worker = startModelWorker(pipeline, model, { concurrency: 2 });
    adapter = await startLarkAdapter(pipeline, {
      settings: { appId, appSecret: 'secret-e2e', domain: fake.url, imageWaitMs: 1200, apiRetryDelayMs: 10 },
      eventsConnection: createRedisConnection(redis.url),
      onOutcome: (outcome) => outcomes.push(outcome),
    });
  });
  afterAll(async () => {
    await adapter?.close();
    await worker?.close();
    await model?.close();
    await pipeline?.queues.close();
    await fake.close();
  });

  const requestOf = (messageId: string) => model.callOf(`lark-${messageId}`)?.request;

  it('learns its open_id from bot info and answers an English p2p text message in English', async () => {
    expect(adapter.botOpenId).toBe(botOpenId);
    const event = messageEvent({
      chatId: 'oc_p2p_alice',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'What is in this picture?' },
    });
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    expect(answer.messages).toHaveLength(1);
    const request = requestOf(event.event.message.message_id);
    expect(request?.language).toBe('en');
    expect(request?.question).toBe('What is in this picture?');
    expect(answer.text).toBe(model.callOf(`lark-${event.event.message.message_id}`)?.result?.text);
    await fake.waitFor(() => [...fake.pushed.values()].every((pushed) => pushed.acked), 5000, 'acks');
    // Acknowledged on enqueue, long before the answer is generated (Lark redelivers what is not acked within 3 s).
    const pushed = [...fake.pushed.values()][0];
    expect((pushed?.ackedAt ?? Number.POSITIVE_INFINITY) - (pushed?.pushedAt ?? 0)).toBeLessThan(3000);
    expect(pushed?.ackedAt ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(answer.messages[0]?.at ?? 0);
  });

  it('in groups answers only an @-mention of its own open_id; @_all and other mentions are not for it', async () => {
    const allEvent = messageEvent({
      chatId: 'oc_group_x',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_all 大家好' },
      mentions: [{ key: '@_all', id: { open_id: '' }, name: '所有人' }],
    });
    const otherEvent = messageEvent({
      chatId: 'oc_group_x',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_user_1 你看看' },
      mentions: [{ key: '@_user_1', id: { open_id: 'ou_someone' }, name: 'Someone' }],
    });
    const mentionEvent = messageEvent({
      chatId: 'oc_group_x',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_user_1 这是什么颜色？' },
      mentions: [botMention()],
    });
    fake.pushEvent(allEvent);
    fake.pushEvent(otherEvent);
    fake.pushEvent(mentionEvent);
    await answerTo(fake, mentionEvent.event.message.message_id);
    expect(requestOf(mentionEvent.event.message.message_id)?.question).toBe('这是什么颜色？');
    expect(requestOf(mentionEvent.event.message.message_id)?.language).toBe('zh-CN');
    expect(fake.repliesTo(allEvent.event.message.message_id)).toEqual([]);
    expect(fake.repliesTo(otherEvent.event.message.message_id)).toEqual([]);
    expect(requestOf(allEvent.event.message.message_id)).toBeUndefined();
  });

  it('downloads an image message with messageResource.get and answers a post with an inline picture', async () => {
    const postId = newMessageId();
    fake.addResource(postId, 'img_post_1', await solidPng(30, 200, 30));
    const post = messageEvent({
      messageId: postId,
      chatId: 'oc_group_y',
      chatType: 'group',
      sender: alice,
      messageType: 'post',
      mentions: [botMention()],
      content: {
        title: '',
        content: [
          [
            { tag: 'at', user_id: '@_user_1', user_name: 'Ziya' },
            { tag: 'text', text: ' What colour is this?' },
          ],
          [{ tag: 'img', image_key: 'img_post_1' }],
        ],
      },
    });
    fake.pushEvent(post);
    await answerTo(fake, postId);
    const request = requestOf(postId);
    expect(request?.question).toBe('What colour is this?');
    expect(request?.image).toBeDefined();
    expect(fake.downloads).toContainEqual({ messageId: postId, fileKey: 'img_post_1', type: 'image' });
  });

  it("joins a picture sent alone with the same user's next question into one request", async () => {
    const imageId = newMessageId();
    fake.addResource(imageId, 'img_alone_1', await solidPng(200, 20, 20));
    const image = messageEvent({
      messageId: imageId,
      chatId: 'oc_p2p_bob',
      chatType: 'p2p',
      sender: bob,
      messageType: 'image',
      content: { image_key: 'img_alone_1' },
    });
    const question = messageEvent({
      chatId: 'oc_p2p_bob',
      chatType: 'p2p',
      sender: bob,
      messageType: 'text',
      content: { text: '图片里是什么？' },
    });
    fake.pushEvent(image);
    await pause(100);
    fake.pushEvent(question);
    await answerTo(fake, question.event.message.message_id);
    const request = requestOf(question.event.message.message_id);
    expect(request?.image).toBeDefined();
    expect(request?.question).toBe('图片里是什么？');
    await pause(1500); // past the hold: the picture is not answered a second time on its own
    expect(fake.repliesTo(imageId)).toEqual([]);
    expect(requestOf(imageId)).toBeUndefined();
  });

  it("in a group, holds a picture sent without a mention for the same user's @-question, and never answers it alone", async () => {
    const imageId = newMessageId();
    fake.addResource(imageId, 'img_group_1', await solidPng(90, 90, 200));
    fake.pushEvent(
      messageEvent({
        messageId: imageId,
        chatId: 'oc_group_hold',
        chatType: 'group',
        sender: alice,
        messageType: 'image',
        content: { image_key: 'img_group_1' },
      }),
    );
    await pause(100);
    const question = messageEvent({
      chatId: 'oc_group_hold',
      chatType: 'group',
      sender: alice,
      messageType: 'text',
      content: { text: '@_user_1 what is in my picture?' },
      mentions: [botMention()],
    });
    fake.pushEvent(question);
    await answerTo(fake, question.event.message.message_id);
    expect(requestOf(question.event.message.message_id)?.image).toBeDefined();
    const lonelyId = newMessageId();
    fake.pushEvent(
      messageEvent({
        messageId: lonelyId,
        chatId: 'oc_group_hold',
        chatType: 'group',
        sender: bob,
        messageType: 'image',
        content: { image_key: 'img_group_2' },
      }),
    );
    await pause(1600);
    expect(fake.repliesTo(lonelyId)).toEqual([]);
    expect(requestOf(lonelyId)).toBeUndefined();
  });

  it('answers a picture that stays alone (never silently ignored) and a reply that quotes a picture', async () => {
    const imageId = newMessageId();
    fake.addResource(imageId, 'img_alone_2', await solidPng(20, 20, 200));
    const image = messageEvent({
      messageId: imageId,
      chatId: 'oc_p2p_carol',
      chatType: 'p2p',
      sender: user('carol'),
      messageType: 'image',
      content: { image_key: 'img_alone_2' },
    });
    fake.pushEvent(image);
    await answerTo(fake, imageId);
    expect(requestOf(imageId)?.image).toBeDefined();
    expect(requestOf(imageId)?.language).toBe('zh-CN'); // no text: the Feishu domain's default locale

    const quotedId = newMessageId();
    fake.addResource(quotedId, 'img_quoted', await solidPng(120, 120, 0));
    fake.addUserMessage(
      messageEvent({
        messageId: quotedId,
        chatId: 'oc_group_q',
        chatType: 'group',
        sender: alice,
        messageType: 'image',
        content: { image_key: 'img_quoted' },
      }),
    );
    const reply = messageEvent({
      chatId: 'oc_group_q',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      parentId: quotedId,
      content: { text: '@_user_1 what is this?' },
      mentions: [botMention()],
    });
    fake.pushEvent(reply);
    await answerTo(fake, reply.event.message.message_id);
    expect(requestOf(reply.event.message.message_id)?.image).toBeDefined();
    expect(fake.downloads).toContainEqual({ messageId: quotedId, fileKey: 'img_quoted', type: 'image' });
  });

  it('tells the user, in their language, when Lark refuses the image download', async () => {
    const post = messageEvent({
      chatId: 'oc_p2p_gone',
      chatType: 'p2p',
      sender: alice,
      messageType: 'post',
      content: {
        title: '',
        content: [
          [
            { tag: 'text', text: 'What is this picture?' },
            { tag: 'img', image_key: 'img_missing' },
          ],
        ],
      },
    });
    fake.pushEvent(post);
    const answer = await answerTo(fake, post.event.message.message_id);
    expect(answer.text).toBe(errorMessage('en', 'image_unreadable'));
    expect(requestOf(post.event.message.message_id)).toBeUndefined();
  });

  it('answers inside the thread a message was written in, with the thread as its own conversation', async () => {
    const event = messageEvent({
      chatId: 'oc_group_topic',
      chatType: 'group',
      sender: alice,
      messageType: 'text',
      content: { text: '@_user_1 Hello from a thread' },
      mentions: [botMention()],
    });
    Object.assign(event.event.message, { thread_id: 'omt_thread_1' });
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    expect(answer.messages.every((message) => message.replyInThread === true)).toBe(true);
    expect(model.callOf(`lark-${event.event.message.message_id}`)).toBeDefined();
    expect(await pipeline.contexts.load('lark:oc_group_topic:omt_thread_1')).toHaveLength(2);
  });

  it('answers the same event delivered 4 times (re-pushed, acks ignored) exactly once', async () => {
    const event = messageEvent({
      chatId: 'oc_p2p_dup',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'Hello there, how are you?' },
    });
    const frameId = fake.pushEvent(event);
    fake.repush(frameId);
    fake.redeliverUnacked();
    await answerTo(fake, event.event.message.message_id);
    fake.repush(frameId);
    await fake.waitFor(() => (fake.pushed.get(frameId)?.ackCodes.length ?? 0) >= 4, 5000, 'four acks');
    await pause(500);
    expect(fake.pushed.get(frameId)?.pushes).toBeGreaterThanOrEqual(4);
    expect(fake.repliesTo(event.event.message.message_id)).toHaveLength(1);
    expect(
      model.calls.filter((call) => call.request.requestId === `lark-${event.event.message.message_id}`),
    ).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'duplicate').length).toBeGreaterThanOrEqual(3);
  });

  it('keeps a Chinese group and an English p2p conversation apart, at the same time, with per-chat context', async () => {
    const zh1 = messageEvent({
      chatId: 'oc_group_zh',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_user_1 你好，请介绍一下你自己。' },
      mentions: [botMention()],
    });
    const en1 = messageEvent({
      chatId: 'oc_p2p_en',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'Hello, please introduce yourself.' },
    });
    fake.pushEvent(zh1);
    fake.pushEvent(en1);
    await Promise.all([answerTo(fake, zh1.event.message.message_id), answerTo(fake, en1.event.message.message_id)]);
    const zh2 = messageEvent({
      chatId: 'oc_group_zh',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_user_1 你刚才说了什么？' },
      mentions: [botMention()],
    });
    const en2 = messageEvent({
      chatId: 'oc_p2p_en',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'What did you just say?' },
    });
    fake.pushEvent(zh2);
    fake.pushEvent(en2);
    await Promise.all([answerTo(fake, zh2.event.message.message_id), answerTo(fake, en2.event.message.message_id)]);
    const zhRequest = requestOf(zh2.event.message.message_id);
    const enRequest = requestOf(en2.event.message.message_id);
    expect(zhRequest?.language).toBe('zh-CN');
    expect(enRequest?.language).toBe('en');
    expect(zhRequest?.history.map((turn) => turn.requestId)).toEqual([
      `lark-${zh1.event.message.message_id}`,
      `lark-${zh1.event.message.message_id}`,
    ]);
    expect(enRequest?.history.map((turn) => turn.requestId)).toEqual([
      `lark-${en1.event.message.message_id}`,
      `lark-${en1.event.message.message_id}`,
    ]);
  });

  it("answers /help and /reset from the catalog, in the chat's language", async () => {
    const help = messageEvent({
      chatId: 'oc_group_zh',
      chatType: 'group',
      sender: bob,
      messageType: 'text',
      content: { text: '@_user_1 /帮助' },
      mentions: [botMention()],
    });
    fake.pushEvent(help);
    expect((await answerTo(fake, help.event.message.message_id)).text).toBe(t('zh-CN', 'help.text'));
    const reset = messageEvent({
      chatId: 'oc_p2p_en',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: '/reset' },
    });
    fake.pushEvent(reset);
    expect((await answerTo(fake, reset.event.message.message_id)).text).toBe(t('en', 'reset.done'));
    expect(await pipeline.contexts.load('lark:oc_p2p_en')).toEqual([]);
  });

  it('drops an event older than the configured window', async () => {
    const old = messageEvent({
      chatId: 'oc_p2p_old',
      chatType: 'p2p',
      sender: alice,
      messageType: 'text',
      content: { text: 'Are you there?' },
      createTime: Date.now() - 2 * 3600_000,
    });
    const frameId = fake.pushEvent(old);
    await fake.waitFor(() => fake.pushed.get(frameId)?.acked === true, 5000, 'the ack');
    await pause(300);
    expect(fake.repliesTo(old.event.message.message_id)).toEqual([]);
    expect(outcomes).toContain('stale');
  });
});
