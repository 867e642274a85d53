import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Worker } from 'bullmq';
import { type Browser, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import { t } from '../../src/i18n/catalog.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { RecordingChatModel } from '../support/recording-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { type ScriptedWebApi, startScriptedWebApi } from './scripted-web-api.ts';

// Debian's Chromium (CI: `apt-get install -y chromium`). Without it these tests are skipped, and say why.
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(`browser tests skipped: no Chromium at ${chromiumPath} (install it with: apt-get install -y chromium)`);
}

const outputDirectory = resolve(import.meta.dirname, '../../test-output');

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

async function pictureFile(): Promise<{ name: string; mimeType: string; buffer: Buffer }> {
  const left = await sharp({ create: { width: 32, height: 64, channels: 3, background: '#d33' } })
    .png()
    .toBuffer();
  const buffer = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#36c' } })
    .composite([{ input: left, left: 0, top: 0 }])
    .png()
    .toBuffer();
  return { name: 'picture.png', mimeType: 'image/png', buffer };
}

async function openPage(browser: Browser, url: string, locale: string): Promise<Page> {
  const context = await browser.newContext({ locale, viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByRole('button', { name: t(locale, 'web.send'), exact: true }).waitFor();
  return page;
}

describe.skipIf(!hasChromium)('web page against a scripted API', () => {
  let browser: Browser;
  let api: ScriptedWebApi;

  beforeAll(async () => {
    [browser, api] = await Promise.all([launch(), startScriptedWebApi()]);
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('uploads an image, streams the answer, keeps follow-ups, resets, and works from the keyboard', async () => {
    const page = await openPage(browser, api.url, 'en-US');
    await expect(page.getByRole('status').textContent()).resolves.toContain('Demo mode');
    const log = page.getByRole('log');
    expect(await log.getAttribute('aria-live')).toBe('polite');

    await page.getByLabel(t('en', 'web.attach_image')).setInputFiles(await pictureFile());
    await expect(page.getByAltText(t('en', 'web.image_preview_alt')).isVisible()).resolves.toBe(true);
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('What is in this picture?');
    await question.press('Enter');

    const answer = log.locator('li.assistant').last();
    // A progress event shows a partial answer before the final one arrives.
    await answer.locator('.text', { hasText: /^I see a pict/ }).waitFor();
    await answer.locator('.text', { hasText: 'You asked: What is in this picture?' }).waitFor();
    // The reply event (after the last progress) marks the answer finished for screen readers.
    await log.locator('li.assistant[aria-busy="false"]', { hasText: 'You asked: What is in this picture?' }).waitFor();
    expect(api.received.at(-1)).toMatchObject({ text: 'What is in this picture?', imageType: 'image/png' });
    expect(api.received.at(-1)?.imageBytes).toBeGreaterThan(0);
    await expect(log.locator('li.user img').count()).resolves.toBe(1);
    await expect(page.getByAltText(t('en', 'web.image_preview_alt')).isVisible()).resolves.toBe(false);

    // Follow-up without an image, sent with the keyboard only.
    await question.focus();
    await page.keyboard.type('And the colours?');
    await page.keyboard.press('Enter');
    await log.locator('li.assistant .text', { hasText: 'You asked: And the colours?' }).waitFor();
    expect(api.received.at(-1)).toMatchObject({ text: 'And the colours?', imageBytes: 0 });
    await expect(log.locator('li').count()).resolves.toBe(4);

    mkdirSync(outputDirectory, { recursive: true });
    await page.screenshot({ path: join(outputDirectory, 'web-chat-scripted.png') });

    await page.getByRole('button', { name: t('en', 'web.reset') }).click();
    await log.locator('li.assistant .text', { hasText: t('en', 'reset.done') }).waitFor();
    await expect(log.locator('li').count()).resolves.toBe(1);
    expect(api.resets).toHaveLength(1);
    await page.context().close();
  });

  it('shows errors: an empty question, a non-image file, a failed answer', async () => {
    const page = await openPage(browser, api.url, 'en-US');
    await page.getByRole('button', { name: t('en', 'web.send') }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(t('en', 'error.empty_message'));

    await page.getByLabel(t('en', 'web.attach_image')).setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('not a picture'),
    });
    await expect(page.getByRole('alert').textContent()).resolves.toBe(webStrings('en').strings['web.not_an_image']);

    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('please fail');
    await question.press('Enter');
    await page.locator('li.assistant.error .text', { hasText: t('en', 'error.timeout') }).waitFor();
    await page.context().close();
  });

  it('pastes an image, keeps channels apart, and speaks Chinese to a Chinese browser', async () => {
    const page = await openPage(browser, api.url, 'zh-CN');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await expect(page.getByRole('button', { name: t('zh-CN', 'web.reset') }).isVisible()).resolves.toBe(true);

    const { buffer } = await pictureFile();
    await page.getByLabel(t('zh-CN', 'web.message_label')).focus();
    // In-page scripts are strings: this project's TypeScript has no DOM types.
    await page.evaluate(`(() => {
      const bytes = Uint8Array.from(atob(${JSON.stringify(buffer.toString('base64'))}), (character) => character.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
      document.activeElement.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
    })()`);
    await page.getByAltText(t('zh-CN', 'web.image_preview_alt')).waitFor();
    await page.getByLabel(t('zh-CN', 'web.message_label')).fill('这是什么？');
    await page.getByRole('button', { name: t('zh-CN', 'web.send') }).click();
    await page.locator('li.assistant .text', { hasText: 'You asked: 这是什么？' }).waitFor();
    const first = api.received.at(-1);
    expect(first).toMatchObject({ text: '这是什么？', imageType: 'image/png', language: 'zh-CN' });

    await page.getByRole('button', { name: t('zh-CN', 'web.add_channel') }).click();
    const channelButtons = page.getByRole('navigation').getByRole('listitem').getByRole('button');
    await expect(channelButtons.count()).resolves.toBe(2);
    await expect(page.getByRole('log').locator('li').count()).resolves.toBe(0);
    await page.getByLabel(t('zh-CN', 'web.message_label')).fill('第二个频道');
    await page.keyboard.press('Enter');
    await page.locator('li.assistant .text', { hasText: 'You asked: 第二个频道' }).waitFor();
    expect(api.received.at(-1)?.channel).not.toBe(first?.channel);

    // Back to the first channel: its history comes from the server.
    await channelButtons.first().click();
    await page.locator('li.user', { hasText: '这是什么？' }).waitFor();
    await expect(page.getByRole('log').locator('li', { hasText: '第二个频道' }).count()).resolves.toBe(0);
    await page.context().close();
  });
});

// The whole app: the real web adapter (HTTP API, ingest, delivery, progress), a real Redis and BullMQ, and a model
// worker running the real tiny random-weight Ziya model on the CPU.
describe.skipIf(!hasChromium)('web page against the whole app (real Redis, tiny model)', () => {
  const redis = useTestRedis();
  let browser: Browser;
  let pipeline: PipelineContext;
  let model: RecordingChatModel;
  let worker: Worker;
  let web: WebAdapter;

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix, { MAX_NEW_TOKENS: 24 });
    const [launched, loaded] = await Promise.all([
      launch(),
      ZiyaChatModel.load(inject('tinyModelDir'), {
        executionProvider: 'cpu',
        threads: 1,
        embeddingCache: pipeline.embeddings,
      }),
    ]);
    browser = launched;
    model = new RecordingChatModel(loaded);
    worker = startModelWorker(pipeline, model, { concurrency: 1 });
    web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
  });

  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await worker?.close();
    await model?.close();
    await pipeline?.queues.close();
  });

  it('uploads an image, asks, and shows the streamed reply', async () => {
    // The page takes every string from the catalog through this endpoint (src/i18n/web-strings.ts).
    const strings = await fetch(`${web.url}/api/strings?language=en-US`);
    expect(strings.status, 'the web server must serve GET /api/strings?language= → webStrings(language)').toBe(200);
    expect(await strings.json()).toMatchObject({ language: 'en', strings: { 'web.send': t('en', 'web.send') } });
    const page = await openPage(browser, web.url, 'en-US');
    await expect(page.getByRole('status').textContent()).resolves.toBe(t('en', 'demo.banner'));
    // Record what the answer bubble shows while it is still streaming (aria-busy) to see progress events arrive.
    await page.evaluate(`(() => {
      window.streamedWhileBusy = [];
      new MutationObserver(() => {
        for (const turn of document.querySelectorAll('li.assistant[aria-busy="true"] .text')) {
          if (turn.textContent) window.streamedWhileBusy.push(turn.textContent);
        }
      }).observe(document.getElementById('conversation'), { subtree: true, childList: true, characterData: true });
    })()`);

    await page.getByLabel(t('en', 'web.attach_image')).setInputFiles(await pictureFile());
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('What is in this picture?');
    await question.press('Enter');

    const finished = page.locator('li.assistant[aria-busy="false"]').last();
    await finished.waitFor({ timeout: 45_000 });
    const shown = (await finished.locator('.text').textContent()) ?? '';
    const call = model.calls.at(-1);
    expect(call?.request.question).toBe('What is in this picture?');
    expect(call?.request.language).toBe('en');
    expect(call?.request.image).toBeDefined();
    expect(shown).toBe(call?.result?.text);
    expect(shown.length).toBeGreaterThan(0);
    const streamed = (await page.evaluate<string[] | undefined>('window.streamedWhileBusy')) ?? [];
    expect(streamed.length).toBeGreaterThan(0);
    expect(shown.startsWith(streamed[0] ?? '\u0000')).toBe(true);
    await expect(page.getByRole('log').locator('li.user img').count()).resolves.toBe(1);

    mkdirSync(outputDirectory, { recursive: true });
    await page.screenshot({ path: join(outputDirectory, 'web-chat.png') });
    await page.context().close();
  });
});
