import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyErrorSchema } from '../../src/contracts/chat-reply.ts';
import { t } from '../../src/i18n/catalog.ts';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { manifestFileName, readManifest } from '../../workers/model/manifest.ts';
import { tinyVisualModelDirectory } from './tiny-visual-model.ts';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../../bin/ziya-visual-bot.js');

async function ask(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'ask', ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('a text-only model asked about a picture', () => {
  let folder: string;
  let textOnly: string;
  let photo: string;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'zvb-text-only-'));
    // The tiny model without its vision tower, as `build-model --from` without `--vision-from` writes it.
    textOnly = join(folder, 'text-only');
    cpSync(tinyVisualModelDirectory(), textOnly, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(textOnly, manifestFileName), 'utf8'));
    delete manifest.vision;
    delete manifest.files.vision;
    manifest.textOnly = true;
    writeFileSync(join(textOnly, manifestFileName), JSON.stringify(manifest));
    rmSync(join(textOnly, 'vision.onnx'));
    rmSync(join(textOnly, 'vision.onnx.data'));
    photo = join(folder, 'photo.jpg');
    await sharp({ create: { width: 30, height: 20, channels: 3, background: '#2080c0' } })
      .jpeg()
      .toFile(photo);
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('ask --image: the localized refusal in the question’s language, exit code 1, no stack trace', async () => {
    const [chinese, english] = await Promise.all([
      ask(['--image', photo, '--model', textOnly, '这张图片里有什么？']),
      ask(['--image', photo, '--model', textOnly, 'What is in this picture?']),
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
