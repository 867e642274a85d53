import { describe, expect, it } from 'vitest';
import type { ReceiveOutcome } from '../../adapters/lark/receive-event.ts';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import {
  type EventMention,
  type FakeUser,
  type MessageEvent,
  type MessageEventInput,
  messageEvent,
  newMessageId,
} from '../support/fake-lark/lark-events.ts';
import { solidPng } from '../support/test-images.ts';
import { answerTo, botMention, botOpenId, pause, useLarkStack, user } from './lark-harness.ts';

// The whole path over the long connection: the real SDK WSClient ← protobuf frames from the fake platform →
// dedupe + enqueue → ingest (messageResource.get) → the real tiny ZiyaChatModel → CardKit card / reply.
describe('Lark adapter end to end over the long connection (real SDK, Redis, BullMQ, tiny model)', () => {
  const outcomes: ReceiveOutcome[] = [];
  const stack = useLarkStack({
    appId: 'cli_a1b2c3d4e5f60001',
    appSecret: 'secret-e2e',
    settings: { MAX_NEW_TOKENS: 16 },
    concurrency: 2,
    imageWaitMs: 1200,
    onOutcome: (outcome) => outcomes.push(outcome),
  });
  const { fake } = stack;
  const alice = user('alice');
  const bob = user('bob');

  const requestOf = (messageId: string) => stack.model.callOf(`lark-${messageId}`)?.request;
  /** A text message from `sender` in the p2p chat `chatId`. */
  const p2pText = (chatId: string, sender: FakeUser, text: string, fields: Partial<MessageEventInput> = {}) =>
    messageEvent({ chatId, chatType: 'p2p', sender, messageType: 'text', content: { text }, ...fields });
  /** A text message from `sender` in the group `chatId`, with `mentions`. */
  const groupText = (
    chatId: string,
    sender: FakeUser,
    text: string,
    mentions: EventMention[],
    fields: Partial<MessageEventInput> = {},
  ) => messageEvent({ chatId, chatType: 'group', sender, messageType: 'text', content: { text }, mentions, ...fields });
  /** A text message from `sender` in the group `chatId` that @-mentions the bot (`@_user_1`) before `text`. */
  const groupMention = (chatId: string, sender: FakeUser, text: string, fields: Partial<MessageEventInput> = {}) =>
    groupText(chatId, sender, `@_user_1 ${text}`, [botMention()], fields);
  /** A picture message (`imageKey`) from `sender`, alone in its message `messageId`. */
  const picture = (
    messageId: string,
    chat: Pick<MessageEventInput, 'chatId' | 'chatType'>,
    sender: FakeUser,
    imageKey: string,
  ) => messageEvent({ messageId, ...chat, sender, messageType: 'image', content: { image_key: imageKey } });
  /** Pushes `events` at once and waits for the answer to each. */
  const answerAll = async (...events: MessageEvent[]) => {
    for (const event of events) fake.pushEvent(event);
    await Promise.all(events.map((event) => answerTo(fake, event.event.message.message_id)));
  };

  it('learns its open_id from bot info and answers an English p2p text message in English', async () => {
    expect(stack.adapter.botOpenId).toBe(botOpenId);
    const event = p2pText('oc_p2p_alice', alice, 'What is in this picture?');
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    expect(answer.messages).toHaveLength(1);
    const request = requestOf(event.event.message.message_id);
    expect(request?.language).toBe('en');
    expect(request?.question).toBe('What is in this picture?');
    // The tiny model has random weights: its answer comes with the demo notice.
    expect(answer.text).toBe(
      `${stack.model.callOf(`lark-${event.event.message.message_id}`)?.result?.text}\n\n⚠️ ${t('en', 'demo.banner')}`,
    );
    await fake.waitFor(() => [...fake.pushed.values()].every((pushed) => pushed.acked), 5000, 'acks');
    // Acknowledged on enqueue, long before the answer is generated (Lark redelivers what is not acked within 3 s).
    const pushed = [...fake.pushed.values()][0];
    expect((pushed?.ackedAt ?? Number.POSITIVE_INFINITY) - (pushed?.pushedAt ?? 0)).toBeLessThan(3000);
    expect(pushed?.ackedAt ?? Number.POSITIVE_INFINITY).toBeLessThanOrEqual(answer.messages[0]?.at ?? 0);
  });

  it('in groups answers only an @-mention of its own open_id; @_all and other mentions are not for it', async () => {
    const allEvent = groupText('oc_group_x', bob, '@_all 大家好', [
      { key: '@_all', id: { open_id: '' }, name: '所有人' },
    ]);
    const otherEvent = groupText('oc_group_x', bob, '@_user_1 你看看', [
      { key: '@_user_1', id: { open_id: 'ou_someone' }, name: 'Someone' },
    ]);
    const mentionEvent = groupMention('oc_group_x', bob, '这是什么颜色？');
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
    const image = picture(imageId, { chatId: 'oc_p2p_bob', chatType: 'p2p' }, bob, 'img_alone_1');
    const question = p2pText('oc_p2p_bob', bob, '图片里是什么？');
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
    const holdGroup = { chatId: 'oc_group_hold', chatType: 'group' } as const;
    fake.pushEvent(picture(imageId, holdGroup, alice, 'img_group_1'));
    await pause(100);
    const question = groupMention('oc_group_hold', alice, 'what is in my picture?');
    fake.pushEvent(question);
    await answerTo(fake, question.event.message.message_id);
    expect(requestOf(question.event.message.message_id)?.image).toBeDefined();
    const lonelyId = newMessageId();
    fake.pushEvent(picture(lonelyId, holdGroup, bob, 'img_group_2'));
    await pause(1600);
    expect(fake.repliesTo(lonelyId)).toEqual([]);
    expect(requestOf(lonelyId)).toBeUndefined();
  });

  it('answers a picture that stays alone (never silently ignored) and a reply that quotes a picture', async () => {
    const imageId = newMessageId();
    fake.addResource(imageId, 'img_alone_2', await solidPng(20, 20, 200));
    const image = picture(imageId, { chatId: 'oc_p2p_carol', chatType: 'p2p' }, user('carol'), 'img_alone_2');
    fake.pushEvent(image);
    await answerTo(fake, imageId);
    expect(requestOf(imageId)?.image).toBeDefined();
    expect(requestOf(imageId)?.language).toBe('zh-CN'); // no text: the Feishu domain's default locale

    const quotedId = newMessageId();
    fake.addResource(quotedId, 'img_quoted', await solidPng(120, 120, 0));
    fake.addUserMessage(picture(quotedId, { chatId: 'oc_group_q', chatType: 'group' }, alice, 'img_quoted'));
    const reply = groupMention('oc_group_q', bob, 'what is this?', { parentId: quotedId });
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
    const event = groupMention('oc_group_topic', alice, 'Hello from a thread');
    Object.assign(event.event.message, { thread_id: 'omt_thread_1' });
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    expect(answer.messages.every((message) => message.replyInThread === true)).toBe(true);
    expect(stack.model.callOf(`lark-${event.event.message.message_id}`)).toBeDefined();
    expect(await stack.pipeline.contexts.load('lark:oc_group_topic:omt_thread_1')).toHaveLength(2);
  });

  it('answers the same event delivered 4 times (re-pushed, acks ignored) exactly once', async () => {
    const event = p2pText('oc_p2p_dup', alice, 'Hello there, how are you?');
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
      stack.model.calls.filter((call) => call.request.requestId === `lark-${event.event.message.message_id}`),
    ).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'duplicate').length).toBeGreaterThanOrEqual(3);
  });

  it('keeps a Chinese group and an English p2p conversation apart, at the same time, with per-chat context', async () => {
    const zh1 = groupMention('oc_group_zh', bob, '你好，请介绍一下你自己。');
    const en1 = p2pText('oc_p2p_en', alice, 'Hello, please introduce yourself.');
    await answerAll(zh1, en1);
    const zh2 = groupMention('oc_group_zh', bob, '你刚才说了什么？');
    const en2 = p2pText('oc_p2p_en', alice, 'What did you just say?');
    await answerAll(zh2, en2);
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
    const help = groupMention('oc_group_zh', bob, '/帮助');
    fake.pushEvent(help);
    expect((await answerTo(fake, help.event.message.message_id)).text).toBe(t('zh-CN', 'help.text'));
    const reset = p2pText('oc_p2p_en', alice, '/reset');
    fake.pushEvent(reset);
    expect((await answerTo(fake, reset.event.message.message_id)).text).toBe(t('en', 'reset.done'));
    expect(await stack.pipeline.contexts.load('lark:oc_p2p_en')).toEqual([]);
  });

  it('drops an event older than the configured window', async () => {
    const old = p2pText('oc_p2p_old', alice, 'Are you there?', { createTime: Date.now() - 2 * 3600_000 });
    const frameId = fake.pushEvent(old);
    await fake.waitFor(() => fake.pushed.get(frameId)?.acked === true, 5000, 'the ack');
    await pause(300);
    expect(fake.repliesTo(old.event.message.message_id)).toEqual([]);
    expect(outcomes).toContain('stale');
  });
});
