import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Worker } from 'bullmq';
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import { t } from '../../src/i18n/catalog.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';
import type { ChatModel, ChatModelRequest } from '../../src/model/chat-model.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { uploadUntilAnswered } from '../support/upload-until-answered.ts';

// The web page's limits and small-screen layout against the real web adapter (HTTP API, ingest, delivery) on a real
// Redis; the model is a test double (these tests are about what the page sends and shows, not about answers).
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(`browser tests skipped: no Chromium at ${chromiumPath} (install it with: apt-get install -y chromium)`);
}

const outputDirectory = resolve(import.meta.dirname, '../../test-output');
const mebibyte = 1024 * 1024;

/** The fake model, announced as the random-weight demo (so the page shows its banner, as a first start does). */
class DemoModel implements ChatModel {
  readonly modelId = 'fake-demo';
  readonly demo = true;
  private readonly inner = new FakeChatModel({ words: 6 });
  answer(request: ChatModelRequest) {
    return this.inner.answer(request);
  }
  async close(): Promise<void> {}
}

function strings(language: string): Record<string, string> {
  return webStrings(language).strings;
}

function fill(template: string | undefined, params: Record<string, string>): string {
  return (template ?? '').replace(/\{(\w+)\}/g, (placeholder, name: string) => params[name] ?? placeholder);
}

describe.skipIf(!hasChromium)('web page: limits, phone layout, page language (real web adapter)', () => {
  const redis = useTestRedis();
  let browser: Browser;
  let pipeline: PipelineContext;
  let worker: Worker;
  let web: WebAdapter;

  beforeAll(async () => {
    // The shipped defaults (the test settings' image limit is 2 MiB).
    pipeline = testPipeline(redis.connection, redis.prefix, {
      IMAGE_MAX_BYTES: 20 * mebibyte,
      TEXT_MAX_CHARACTERS: 4000,
    });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    worker = startModelWorker(pipeline, new DemoModel(), { concurrency: 1 });
    web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
    mkdirSync(outputDirectory, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await worker?.close();
    await pipeline?.queues.close();
  });

  /** Opens the page; `posts` collects every message POST the page makes (with its body size). */
  async function open(
    locale: string,
    viewport = { width: 1100, height: 760 },
  ): Promise<{ page: Page; posts: { url: string; bytes: number }[]; failures: string[] }> {
    const context = await browser.newContext({ locale, viewport });
    const page = await context.newPage();
    const posts: { url: string; bytes: number }[] = [];
    const failures: string[] = [];
    page.on('request', (request: Request) => {
      if (request.method() === 'POST' && request.url().endsWith('/messages')) {
        posts.push({ url: request.url(), bytes: request.postDataBuffer()?.byteLength ?? 0 });
      }
    });
    page.on('response', (response) => {
      if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(web.url);
    await page.getByRole('button', { name: t(locale, 'web.send'), exact: true }).waitFor();
    await page.locator('#demo-banner:not([hidden])').waitFor();
    return { page, posts, failures };
  }

  it('says what the server accepts in GET /api/info (the limits the page checks against)', async () => {
    const info = (await (await fetch(`${web.url}/api/info`)).json()) as Record<string, unknown>;
    expect(info['limits']).toMatchObject({
      imageMaxBytes: 20 * mebibyte,
      imageMaxSize: '20 MiB',
      textMaxCharacters: 4000,
    });
    const formats = (info['limits'] as { imageFormats: { name: string }[] }).imageFormats.map((format) => format.name);
    expect(formats).toEqual(['JPEG', 'PNG', 'GIF', 'WebP', 'TIFF', 'AVIF']);

    // A client that skips the page's check and posts an 80 MB body is refused by its length, the limit named.
    const declared = 80 * 1000 * 1000;
    const refused = await uploadUntilAnswered(
      `${web.url}/api/channels/limits/messages`,
      { 'content-type': 'application/json', 'content-length': String(declared), 'accept-language': 'zh-CN' },
      declared,
    );
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.message)).toEqual({
      error: 'image_too_large',
      message: fill(strings('zh-CN')['web.image_too_large'], { limit: '20 MiB' }),
    });
  });

  it('gives the conversation most of a 390×844 phone screen, with the channels and the notice folded away', async () => {
    const { page, failures } = await open('en-US', { width: 390, height: 844 });
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('What is in this picture?');
    await question.press('Enter');
    await page.locator('li.assistant[aria-busy="false"]').waitFor();

    await page.screenshot({ path: join(outputDirectory, 'web-chat-phone.png') });
    const conversation = await page.getByRole('log').boundingBox();
    expect(conversation).not.toBeNull();
    expect((conversation?.height ?? 0) / 844, `conversation ${conversation?.height} px of 844`).toBeGreaterThanOrEqual(
      0.6,
    );
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    // Nothing of the page is lost: the composer is on screen and the notice is one line that opens.
    const composer = await page.locator('#composer').boundingBox();
    expect((composer?.y ?? 0) + (composer?.height ?? 0)).toBeLessThanOrEqual(844);

    const banner = page.getByRole('status');
    const folded = (await banner.boundingBox())?.height ?? 0;
    expect(folded).toBeLessThan(30);
    await page.getByRole('button', { name: t('en', 'web.show_banner') }).click();
    expect((await banner.boundingBox())?.height ?? 0).toBeGreaterThan(folded * 1.5);
    await expect(banner.textContent()).resolves.toBe(t('en', 'demo.banner'));
    await page.getByRole('button', { name: t('en', 'web.hide_banner') }).click();

    // The channel panel opens from the header and folds again once a channel is chosen.
    const panel = page.getByRole('navigation');
    await expect(panel.isVisible()).resolves.toBe(false);
    const channelsButton = page.getByRole('button', { name: t('en', 'web.channels'), exact: true });
    await channelsButton.click();
    await expect(channelsButton.getAttribute('aria-expanded')).resolves.toBe('true');
    await expect(panel.isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(outputDirectory, 'web-chat-phone-channels.png') });
    await page.getByRole('button', { name: t('en', 'web.add_channel') }).click();
    await expect(panel.isVisible()).resolves.toBe(false);
    await expect(page.getByRole('log').locator('li').count()).resolves.toBe(0);
    // The page's icon is served: no 404 while loading.
    expect(failures).toEqual([]);
    await page.context().close();
  });

  it('refuses a picture over IMAGE_MAX_BYTES in the browser, naming the limit, and uploads nothing', async () => {
    const { page, posts } = await open('en-US');
    const header = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#345' } })
      .png()
      .toBuffer();
    // A 22 MiB PNG, chosen from disk as a user would (handing 22 MiB to the browser through the protocol is slow).
    const directory = mkdtempSync(join(tmpdir(), 'zvb-large-'));
    const path = join(directory, 'large.png');
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(22 * mebibyte - header.length)]));
    await page.getByLabel(t('en', 'web.attach_image')).setInputFiles(path);
    rmSync(directory, { recursive: true });
    const alert = page.getByRole('alert');
    await expect(alert.textContent()).resolves.toBe(fill(strings('en')['web.image_too_large'], { limit: '20 MiB' }));
    await expect(alert.textContent()).resolves.toContain('20 MiB');
    await expect(page.getByAltText(t('en', 'web.image_preview_alt')).isVisible()).resolves.toBe(false);
    await page.screenshot({ path: join(outputDirectory, 'web-chat-too-large.png') });

    // Sending now sends the question alone: no request ever carried the picture.
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('And now?');
    await question.press('Enter');
    await page.locator('li.assistant[aria-busy="false"]').waitFor();
    expect(posts).toHaveLength(1);
    expect(posts[0]?.bytes).toBeLessThan(64 * 1024);
    await expect(page.getByRole('log').locator('li.user img').count()).resolves.toBe(0);
    await page.context().close();
  });

  it('keeps a text over TEXT_MAX_CHARACTERS in the box, names the limit, sends nothing and shows no bubble', async () => {
    const { page, posts } = await open('en-US');
    const long = 'word '.repeat(1000).trim(); // 4999 characters
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill(long);
    await question.press('Enter');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toBe(
      fill(strings('en')['web.message_too_long'], { count: '4,999', limit: '4,000' }),
    );
    await expect(question.inputValue()).resolves.toBe(long);
    await expect(page.getByRole('log').locator('li').count()).resolves.toBe(0);
    expect(posts).toHaveLength(0);
    await page.screenshot({ path: join(outputDirectory, 'web-chat-too-long.png') });
    await page.context().close();
  });

  it('takes a question the server refuses back into the box (a page that did not know the limit)', async () => {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1100, height: 760 } });
    // This page is told a larger text limit than the server keeps, so the server's refusal is what it sees.
    await context.route('**/api/info', async (route) => {
      const response = await route.fetch();
      const info = (await response.json()) as { limits: Record<string, unknown> };
      await route.fulfill({ response, json: { ...info, limits: { ...info.limits, textMaxCharacters: 100_000 } } });
    });
    const page = await context.newPage();
    await page.goto(web.url);
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.waitFor();
    const long = 'x'.repeat(4500);
    await question.fill(long);
    await question.press('Enter');
    const alert = page.getByRole('alert');
    await alert.filter({ hasText: '4,500' }).waitFor();
    await expect(alert.textContent()).resolves.toBe(
      fill(strings('en')['web.message_too_long'], { count: '4,500', limit: '100,000' }),
    );
    await expect(question.inputValue()).resolves.toBe(long);
    await expect(page.getByRole('log').locator('li').count()).resolves.toBe(0);
    await context.close();
  });

  it('leaves no broken-image bubble: a non-image refused in the browser, a fake PNG refused by the server', async () => {
    const { page, posts } = await open('en-US');
    const attach = page.getByLabel(t('en', 'web.attach_image'));
    await attach.setInputFiles({ name: 'photo.heic', mimeType: 'image/heic', buffer: Buffer.from('ftypheic') });
    const refusal = strings('en')['web.not_an_image'] ?? '';
    expect(refusal).toContain('JPEG, PNG, GIF, WebP, TIFF, or AVIF');
    await expect(page.getByRole('alert').textContent()).resolves.toBe(refusal);
    expect(posts).toHaveLength(0);

    // Named and typed as a PNG, but a PDF inside: only the server can tell; the page then shows no picture for it.
    await attach.setInputFiles({ name: 'scan.png', mimeType: 'image/png', buffer: Buffer.from('%PDF-1.4\n%%EOF\n') });
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('What does this say?');
    await question.press('Enter');
    await page.getByRole('alert').filter({ hasText: refusal }).waitFor();
    await expect(page.locator('img:not([hidden])').evaluateAll((images) => images.length)).resolves.toBe(0);
    await expect(page.getByRole('log').locator('li').count()).resolves.toBe(0);
    await expect(question.inputValue()).resolves.toBe('What does this say?');
    expect(posts).toHaveLength(1);
    await page.context().close();
  });

  it('answers reset and /help in the page language, whatever the conversation was in', async () => {
    const { page } = await open('zh-CN');
    const question = page.getByLabel(t('zh-CN', 'web.message_label'));
    await question.fill('What is in this picture, please?');
    await question.press('Enter');
    const log = page.getByRole('log');
    await log.locator('li.assistant[aria-busy="false"]').waitFor();

    await page.getByRole('button', { name: t('zh-CN', 'web.reset') }).click();
    await log.locator('li.assistant .text', { hasText: t('zh-CN', 'reset.done') }).waitFor();

    await question.fill('/help');
    await question.press('Enter');
    const help = log.locator('li.assistant .text', { hasText: t('zh-CN', 'help.web') });
    await help.waitFor();
    const shown = (await help.textContent()) ?? '';
    expect(shown).toBe(t('zh-CN', 'help.web'));
    expect(shown).not.toContain('群');
    expect(t('en', 'help.web')).not.toMatch(/group|mention/i);
    await page.context().close();
  });

  it('keeps the reset confirmation that streamed in before the reset POST answered', async () => {
    const { page } = await open('en-US');
    const log = page.getByRole('log');
    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('What is in this picture?');
    await question.press('Enter');
    await log.locator('li.assistant[aria-busy="false"]').waitFor();

    // The POST reaches the server at once, but its answer reaches the page only after the confirmation streamed in.
    let streamed = false;
    await page.route('**/reset?*', async (route) => {
      const response = await route.fetch();
      await log.locator('li.assistant .text', { hasText: t('en', 'reset.done') }).waitFor();
      streamed = true;
      await route.fulfill({ response });
    });
    const answered = page.waitForResponse((response) => response.url().includes('/reset?'));
    await page.getByRole('button', { name: t('en', 'web.reset') }).click();
    await answered;
    expect(streamed).toBe(true);
    await page.waitForTimeout(300); // the page's handling of that answer
    await expect(log.locator('li .text').allTextContents()).resolves.toEqual([t('en', 'reset.done')]);
    await expect(log.locator('li.assistant[aria-busy="true"]').count()).resolves.toBe(0);
    await page.context().close();
  });
});
