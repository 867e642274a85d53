import { describe, expect, it } from 'vitest';
import type { ReceiveOutcome } from '../../adapters/lark/receive-event.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { answerTo, cardIdOf, useLarkStack, user } from '../lark/lark-harness.ts';
import { EchoOrRealModel } from '../support/echo-or-real-model.ts';
import { messageEvent, newMessageId, postWebhookEvent } from '../support/fake-lark/lark-events.ts';
import { solidPng } from '../support/test-images.ts';

// Malformed Lark message events over the signed, encrypted webhook (the real SDK's EventDispatcher): content that is
// not JSON, JSON of the wrong shape, post bodies with nulls and numbers where strings belong, mentions that are not a
// list. Each is acknowledged with 200 (a failing handler would make Lark redeliver it for hours), then either
// answered with a localized error or logged and dropped; the next ordinary message is answered.
describe('Lark: malformed message events over the webhook', () => {
  const appId = 'cli_a1b2c3d4e5f60066';
  const encryptKey = 'encrypt-key-hostile';
  const verificationToken = 'verification-token-hostile';
  const outcomes = new Map<string, ReceiveOutcome>();
  const stack = useLarkStack({
    appId,
    appSecret: 'secret-hostile',
    webhook: { encryptKey, verificationToken },
    settings: { MAX_NEW_TOKENS: 4 },
    wrapModel: (tiny) => new EchoOrRealModel(tiny),
    onOutcome: (outcome, event) => {
      if (event.message?.message_id !== undefined) outcomes.set(event.message.message_id, outcome);
    },
  });
  const { fake } = stack;
  const mallory = user('mallory');

  /** Posts a p2p event whose message content (and optionally other message fields) are replaced verbatim. */
  async function post(
    messageType: 'text' | 'post' | 'image',
    rawContent: string,
    extra: Record<string, unknown> = {},
  ): Promise<string> {
    const messageId = newMessageId();
    const payload = messageEvent({
      messageId,
      chatId: 'oc_hostile',
      chatType: 'p2p',
      sender: mallory,
      messageType,
      content: {},
      verificationToken,
      appId,
    });
    Object.assign(payload.event.message, { content: rawContent, ...extra });
    const response = await postWebhookEvent(stack.url, payload, { encryptKey });
    expect(response.status).toBe(200);
    return messageId;
  }

  const answeredWith: Array<[string, 'text' | 'post' | 'image', string, string, Record<string, unknown>?]> = [
    ['post whose paragraphs are null', 'post', '{"content":[null]}', 'empty_message'],
    ['post in a locale wrapper whose paragraph is a number', 'post', '{"zh_cn":{"content":[1]}}', 'empty_message'],
    ['post whose elements are null', 'post', '{"content":[[null,null]]}', 'empty_message'],
    ['post whose text is an object', 'post', '{"content":[[{"tag":"text","text":{"$gt":""}}]]}', 'empty_message'],
    ['post with a numeric image key', 'post', '{"content":[[{"tag":"img","image_key":5}]]}', 'empty_message'],
    ['text whose text is an object', 'text', '{"text":{"a":1}}', 'empty_message'],
    ['image with an object image key', 'image', '{"image_key":{"x":1}}', 'empty_message'],
    ['a 50 000-character text', 'text', JSON.stringify({ text: 'x'.repeat(50_000) }), 'message_too_long'],
    ['mentions that are not a list', 'text', '{"text":""}', 'empty_message', { mentions: 'everyone' }],
  ];
  for (const [what, type, content, error, extra] of answeredWith) {
    it(`answers ${what} with a localized ${error}`, async () => {
      const messageId = await post(type, content, extra);
      const answer = await answerTo(fake, messageId);
      expect(['en', 'zh-CN'].map((language) => errorMessage(language, error))).toContain(answer.text);
      expect(stack.model.callOf(`lark-${messageId}`)).toBeUndefined();
    });
  }

  // Issue 18, finding 8: a key with `/`, `..`, `?` or `%` would steer the resource URL elsewhere with the bot's token.
  const traversalKeys = [
    '../../om_OTHER/resources/img_x',
    'img_x?type=file&x=',
    '..%2F..%2Fom_OTHER%2Fresources%2Fimg_x',
  ];
  for (const key of traversalKeys) {
    it(`answers an image key ${JSON.stringify(key)} with image_unreadable and requests no resource`, async () => {
      fake.addResource('om_OTHER', 'img_x', await solidPng(10, 200, 10));
      const before = fake.calls.length;
      const messageId = await post('image', JSON.stringify({ image_key: key }));
      const answer = await answerTo(fake, messageId);
      expect(['en', 'zh-CN'].map((language) => errorMessage(language, 'image_unreadable'))).toContain(answer.text);
      expect(stack.model.callOf(`lark-${messageId}`)).toBeUndefined();
      expect(fake.downloads.some((download) => download.messageId === 'om_OTHER')).toBe(false);
      expect(fake.calls.slice(before).filter((call) => call.path.includes('/resources'))).toEqual([]);
    });
  }

  it('posts a hostile answer as inert card markdown: no <at>, <font> or disguised link (issue 18, finding 7)', async () => {
    const hostile = [
      'echo: <at id=all></at> <font color="red">urgent</font> [点击登录](https://evil.example/login)',
      '- keep [https://example.com](https://example.com)',
      '```',
      'if (a < b) {}',
      '```',
    ].join('\n');
    const messageId = await post('text', JSON.stringify({ text: hostile }));
    const answer = await answerTo(fake, messageId);
    const cards = answer.messages.flatMap((message) => {
      const card = fake.cards.get(cardIdOf(message) ?? '');
      return card === undefined
        ? []
        : [JSON.stringify(card.card), ...card.updates.map((update) => update.content ?? '')];
    });
    const payloads = [...answer.messages.map((message) => message.content), ...cards];
    expect(cards.length).toBeGreaterThan(0);
    for (const payload of payloads) {
      expect(payload).not.toMatch(/<\s*\/?\s*(at|font)\b/i);
      expect(payload).not.toContain('](https://evil.example');
    }
    expect(answer.text).toContain('&#60;at id=all>&#60;/at> &#60;font color="red">urgent&#60;/font>');
    expect(answer.text).toContain('点击登录 (https://evil.example/login)');
    expect(answer.text).toContain('- keep [https://example.com](https://example.com)\n```\nif (a < b) {}\n```');
  });

  it('answers a post with a numeric title from its text', async () => {
    const messageId = await post('post', '{"title":5,"content":[[{"tag":"text","text":"What is a cat?"}]]}');
    await answerTo(fake, messageId);
    expect(stack.model.callOf(`lark-${messageId}`)?.request.question).toBe('What is a cat?');
  });

  const dropped: Array<[string, 'text' | 'post' | 'image', string]> = [
    ['post content that is not JSON', 'post', '{"zh_cn": {"content": [[{"tag": "text", "text": "unterminated'],
    ['post content that is JSON null', 'post', 'null'],
    ['text content that is a JSON array', 'text', '[1,2,3]'],
    ['text content that is a JSON string', 'text', '"hello"'],
  ];
  it('acknowledges and drops content that is not a JSON object (logged as not understood), then answers the next message', async () => {
    const ids: string[] = [];
    for (const [, type, content] of dropped) ids.push(await post(type, content));
    // The webhook answers after the handler ran: each outcome is known already.
    expect(ids.map((id) => outcomes.get(id))).toEqual(dropped.map(() => 'unsupported'));
    const next = await post('text', JSON.stringify({ text: 'Hello, are you still there?' }));
    await answerTo(fake, next);
    expect(stack.model.callOf(`lark-${next}`)?.request.question).toBe('Hello, are you still there?');
    for (const id of ids) expect(fake.repliesTo(id)).toEqual([]);
  });
});
