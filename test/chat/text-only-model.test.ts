import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyErrorSchema } from '../../src/contracts/chat-reply.ts';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { manifestFileName, readManifest } from '../../workers/model/manifest.ts';
import { askCli } from '../support/ask-cli.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';
import { WebChatStack } from '../support/web-chat-stack.ts';
import { tinyVisualModelDirectory, writeTextOnlyTinyModel } from './tiny-visual-model.ts';

describe('a text-only model asked about a picture', () => {
  let folder: string;
  let textOnly: string;
  let photo: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'zvb-text-only-'));
    textOnly = writeTextOnlyTinyModel(join(folder, 'text-only'));
    photo = join(folder, 'photo.jpg');
    await sharp({ create: { width: 30, height: 20, channels: 3, background: '#2080c0' } })
      .jpeg()
      .toFile(photo);
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('ask --image: the localized refusal in the question’s language, exit code 1, no stack trace', async () => {
    const [chinese, english] = await Promise.all([
      askCli(['--image', photo, '--model', textOnly, '这张图片里有什么？']),
      askCli(['--image', photo, '--model', textOnly, 'What is in this picture?']),
    ]);
    expect(chinese.code).toBe(1);
    expect(chinese.stderr).toContain(`error: ${t('zh-CN', 'error.image_unsupported')}`);
    expect(chinese.stderr).not.toMatch(/\n\s+at /);
    expect(english.code).toBe(1);
    expect(english.stderr).toContain(`error: ${t('en', 'error.image_unsupported')}`);
    expect(english.stderr).not.toMatch(/\n\s+at /);
    expect(english.stdout).toBe('');
  });

  it('the model refuses the image with the image_unsupported key, a reply error the pipeline renders', async () => {
    expect(readManifest(textOnly).textOnly).toBe(true);
    // A model.json written before the label: no vision graph reads as text-only all the same.
    const older = join(folder, 'older');
    mkdirSync(older);
    const { textOnly: _, ...unlabelled } = JSON.parse(readFileSync(join(textOnly, manifestFileName), 'utf8'));
    writeFileSync(join(older, manifestFileName), JSON.stringify(unlabelled));
    expect(readManifest(older).textOnly).toBe(true);
    expect(readManifest(tinyVisualModelDirectory()).textOnly).toBe(false);
    const model = await ZiyaChatModel.load(textOnly, { executionProvider: 'cpu', threads: 1 });
    try {
      const failure = await model
        .answer({
          requestId: 'web-1',
          image: { sha256: 'a'.repeat(64), bytes: readFileSync(photo) },
          history: [],
          question: 'What is this?',
          language: 'en',
          instruction: t('en', 'instruction.answer_in_language'),
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(ImageRejectedError);
      expect((failure as ImageRejectedError).key).toBe('image_unsupported');
      // The drain job turns an error's `key` into the reply's error when it is a reply error key.
      expect(replyErrorSchema.parse((failure as ImageRejectedError).key)).toBe('image_unsupported');
      for (const language of ['en', 'zh-CN', 'zh-TW'] as const) {
        expect(t(language, 'error.image_unsupported')).not.toBe('error.image_unsupported');
      }
      expect(t('zh-TW', 'error.image_unsupported')).not.toBe(t('en', 'error.image_unsupported'));
    } finally {
      await model.close();
    }
  });
});

// The start/worker path: HTTP → ingest → the model worker around the text-only model → the localized reply.
describe('a text-only model behind the web chat', () => {
  const redis = useTestRedis();
  let folder: string;
  let stack: WebChatStack;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'zvb-text-only-web-'));
    const directory = writeTextOnlyTinyModel(join(folder, 'text-only'));
    stack = await WebChatStack.start(redis, { MAX_NEW_TOKENS: 8 }, { modelDirectory: directory });
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('answers a picture with the localized image_unsupported reply and the next text question normally', async () => {
    const stream = await stack.openChannel('text-only');
    const image = (await solidPng(40, 120, 200)).toString('base64');
    const picture = await stack.post('text-only', { text: '这张图片里有什么？', image });
    expect(picture.status).toBe(202);
    const refused = await stream.reply(String(picture.json['requestId']));
    expect(refused['error']).toBe('image_unsupported');
    expect(refused['text']).toBe(errorMessage('zh-CN', 'image_unsupported'));
    const text = await stack.post('text-only', { text: 'Describe a sunny beach in one sentence, please.' });
    const answered = await stream.reply(String(text.json['requestId']));
    expect(answered['error']).toBeUndefined();
    expect(String(answered['text']).length).toBeGreaterThan(0);
  });
});
