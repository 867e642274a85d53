import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebAdapter } from '../../adapters/web/web-adapter.ts';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import type { RecordingChatModel } from '../support/recording-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';
import { WebChatStack } from '../support/web-chat-stack.ts';

// The whole path through the web API: HTTP → ingest → requests → the real tiny ZiyaChatModel → replies-web → SSE.
describe('web chat end to end (real Redis, real BullMQ, real tiny model)', () => {
  const redis = useTestRedis();
  let stack: WebChatStack;
  let model: RecordingChatModel;
  let web: WebAdapter;

  beforeAll(async () => {
    stack = await WebChatStack.start(redis, { IMAGE_MAX_BYTES: 256 * 1024, MAX_NEW_TOKENS: 24 });
    ({ model, web } = stack);
  });
  afterAll(() => stack?.close());

  const openChannel = (channel: string) => stack.openChannel(channel);
  const post = (channel: string, body: Record<string, unknown>) => stack.post(channel, body);

  async function ask(channel: string, body: Record<string, unknown>): Promise<string> {
    const { status, json } = await post(channel, body);
    expect(status).toBe(202);
    return String(json['requestId']);
  }

  it('answers a Chinese question about a picture in Chinese, streaming first, then follows up from the cache', async () => {
    const stream = await openChannel('zh');
    const image = (await solidPng(200, 30, 30)).toString('base64');
    const requestId = await ask('zh', { text: '这张图片里有什么？', image, clientMessageId: 'q1' });
    expect(requestId).toBe('web-zh.q1');
    const reply = await stream.reply(requestId);
    const progressIndex = stream.events.findIndex(
      (event) => event.event === 'progress' && (event.data as { requestId: string }).requestId === requestId,
    );
    const replyIndex = stream.events.findIndex(
      (event) => event.event === 'reply' && (event.data as { requestId: string }).requestId === requestId,
    );
    expect(progressIndex).toBeGreaterThanOrEqual(0);
    expect(progressIndex).toBeLessThan(replyIndex);
    expect((stream.events[progressIndex]?.data as { text?: string } | undefined)?.text?.length).toBeGreaterThan(0);
    expect(reply['language']).toBe('zh-CN');
    expect(reply['error']).toBeUndefined();
    const call = model.callOf(requestId);
    expect(call?.request.language).toBe('zh-CN');
    expect(call?.request.instruction).toBe(t('zh-CN', 'instruction.answer_in_language'));
    expect(call?.result?.prompt).toContain(t('zh-CN', 'instruction.answer_in_language'));
    expect(call?.result?.prompt).toContain('这张图片里有什么？');
    expect(call?.request.image).toBeDefined();
    expect(call?.result?.usedCachedEmbedding).toBe(false);
    expect(reply['text']).toBe(call?.result?.text);

    // Follow-up without an image: the channel's picture, its embedding from the Redis cache, the earlier turns.
    const followUp = await ask('zh', { text: '它是什么颜色的？' });
    const followReply = await stream.reply(followUp);
    expect(followReply['language']).toBe('zh-CN');
    const followCall = model.callOf(followUp);
    expect(followCall?.request.image?.sha256).toBe(call?.request.image?.sha256);
    expect(followCall?.result?.usedCachedEmbedding).toBe(true);
    expect(followCall?.request.history.map((turn) => turn.role)).toEqual(['user', 'assistant']);

    // The bot's own strings in this channel are Chinese: an image-only message keeps the channel's language.
    const emptyReply = await stream.reply(await ask('zh', { text: '   ' }));
    expect(emptyReply).toMatchObject({
      error: 'empty_message',
      language: 'zh-CN',
      text: errorMessage('zh-CN', 'empty_message'),
    });

    // Reset forgets: history is empty and the next question has no picture and no history.
    const resetResponse = await fetch(`${web.url}/api/channels/zh/reset`, { method: 'POST' });
    const resetReply = await stream.reply(String(((await resetResponse.json()) as { requestId: string }).requestId));
    expect(resetReply['text']).toBe(t('zh-CN', 'reset.done'));
    const history = (await (await fetch(`${web.url}/api/channels/zh/history`)).json()) as { turns: unknown[] };
    expect(history.turns).toEqual([]);
    const afterReset = await ask('zh', { text: '你好，我们刚才说了什么？' });
    await stream.reply(afterReset);
    expect(model.callOf(afterReset)?.request.image).toBeUndefined();
    expect(model.callOf(afterReset)?.request.history).toEqual([]);
  });

  it('answers an English question in English with the English instruction', async () => {
    const stream = await openChannel('en');
    const image = `data:image/png;base64,${(await solidPng(20, 20, 220)).toString('base64')}`;
    const requestId = await ask('en', { text: 'What can you see in this picture?', image });
    const reply = await stream.reply(requestId);
    expect(reply['language']).toBe('en');
    const call = model.callOf(requestId);
    expect(call?.result?.prompt).toContain(t('en', 'instruction.answer_in_language'));
    const history = (await (await fetch(`${web.url}/api/channels/en/history`)).json()) as {
      turns: Array<{ role: string; language: string; imageSha256?: string }>;
    };
    expect(history.turns.map((turn) => [turn.role, turn.language])).toEqual([
      ['user', 'en'],
      ['assistant', 'en'],
    ]);
    const stored = await fetch(`${web.url}/api/images/${history.turns[0]?.imageSha256}`);
    expect(stored.headers.get('content-type')).toBe('image/jpeg');

    // The page may post multipart/form-data with the picture as a file: a new picture starts a new history.
    const form = new FormData();
    form.set('text', 'And what about this second picture?');
    form.set('image', new Blob([await solidPng(10, 200, 10)], { type: 'image/png' }), 'green.png');
    const posted = await fetch(`${web.url}/api/channels/en/messages`, { method: 'POST', body: form });
    expect(posted.status).toBe(202);
    const secondId = ((await posted.json()) as { requestId: string }).requestId;
    expect((await stream.reply(secondId))['language']).toBe('en');
    const second = model.callOf(secondId);
    expect(second?.request.image?.sha256).not.toBe(history.turns[0]?.imageSha256);
    expect(second?.request.history).toEqual([]);
  });

  it('answers bad input with a localized error and then works again', async () => {
    const stream = await openChannel('bad');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ text: '' }, 'empty_message'],
      [{ text: '长'.repeat(20_000) }, 'message_too_long'],
      [
        { text: '这是什么文件？', image: Buffer.from('just some text, not a picture').toString('base64') },
        'unsupported_format',
      ],
      [{ text: '这张大图是什么？', image: Buffer.alloc(300 * 1024, 7).toString('base64') }, 'image_too_large'],
    ];
    for (const [body, error] of cases) {
      const reply = await stream.reply(await ask('bad', body));
      expect(reply['error']).toBe(error);
      expect(reply['text']).toBe(errorMessage(String(reply['language']), error));
    }
    // The Chinese messages got Chinese error text.
    const tooLarge = await stream.waitFor((event) => (event.data as { error?: string }).error === 'image_too_large');
    expect((tooLarge.data as { language: string }).language).toBe('zh-CN');
    const works = await stream.reply(await ask('bad', { text: 'Describe a sunny beach in one sentence, please.' }));
    expect(works['error']).toBeUndefined();
    expect(works['language']).toBe('en');
  });

  it('posts the same message twice: one reply, context appended once', async () => {
    const stream = await openChannel('twice');
    const first = await post('twice', { text: 'Tell me a short story about a cat.', clientMessageId: 'same' });
    const second = await post('twice', { text: 'Tell me a short story about a cat.', clientMessageId: 'same' });
    expect(first.status).toBe(202);
    expect(second).toEqual({ status: 200, json: { requestId: 'web-twice.same', duplicate: true } });
    await stream.reply('web-twice.same');
    const next = await stream.reply(await ask('twice', { text: 'And another one about a dog.' }));
    expect(next['error']).toBeUndefined();
    expect(
      stream.events.filter(
        (event) => event.event === 'reply' && (event.data as { requestId: string }).requestId === 'web-twice.same',
      ),
    ).toHaveLength(1);
    const history = (await (await fetch(`${web.url}/api/channels/twice/history`)).json()) as {
      turns: Array<{ requestId: string }>;
    };
    expect(history.turns.filter((turn) => turn.requestId === 'web-twice.same')).toHaveLength(2);
  });

  it('serves info with the demo flag and the health endpoints', async () => {
    const info = (await (
      await fetch(`${web.url}/api/info`, { headers: { 'accept-language': 'zh-CN' } })
    ).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ demo: true, modelId: model.modelId, banner: t('zh-CN', 'demo.banner') });
    const strings = (await (await fetch(`${web.url}/api/strings?language=zh-TW`)).json()) as {
      language: string;
      strings: Record<string, string>;
    };
    expect(strings.language).toBe('zh-TW');
    expect(strings.strings['reset.done']).toBe(t('zh-TW', 'reset.done'));
    const page = await fetch(`${web.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${web.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${web.url}/metrics`)).text()).toContain('zvb_queue_jobs');
  });
});
