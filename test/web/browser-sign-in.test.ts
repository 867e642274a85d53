import { existsSync } from 'node:fs';
import type { Worker } from 'bullmq';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import { t } from '../../src/i18n/catalog.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { RecordingChatModel } from '../support/recording-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

// Debian's Chromium (CI: `apt-get install -y chromium`). Without it this test is skipped, and says why.
const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(
    `browser sign-in test skipped: no Chromium at ${chromiumPath} (install it with: apt-get install -y chromium)`,
  );
}

const token = 'browser-team-token-0123456789';

describe.skipIf(!hasChromium)('web chat behind WEB_ACCESS_TOKEN in a real browser', () => {
  const redis = useTestRedis();
  let browser: Browser;
  let pipeline: PipelineContext;
  let model: RecordingChatModel;
  let worker: Worker;
  let web: WebAdapter;

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix, { MAX_NEW_TOKENS: 12 });
    const [launched, loaded] = await Promise.all([
      chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu'] }),
      ZiyaChatModel.load(inject('tinyModelDir'), { executionProvider: 'cpu', threads: 1 }),
    ]);
    browser = launched;
    model = new RecordingChatModel(loaded);
    worker = startModelWorker(pipeline, model, { concurrency: 1 });
    web = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      accessToken: token,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await web?.close();
    await worker?.close();
    await model?.close();
    await pipeline?.queues.close();
  });

  it('is sent to the sign-in page, is refused a wrong token, signs in and chats', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(web.url);
    expect(new URL(page.url()).pathname).toBe('/sign-in');
    const tokenField = page.getByLabel(t('en', 'access.token_label'));

    await tokenField.fill('not-the-team-token-at-all');
    await page.getByRole('button', { name: t('en', 'access.sign_in') }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(t('en', 'access.wrong_token'));

    await tokenField.fill(token);
    await page.getByRole('button', { name: t('en', 'access.sign_in') }).click();
    await page.getByRole('button', { name: t('en', 'web.send'), exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    // HttpOnly: the page's scripts cannot read the session.
    expect(await page.evaluate('document.cookie')).toBe('');
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'zvb_web', httpOnly: true, sameSite: 'Lax', path: '/' });

    const question = page.getByLabel(t('en', 'web.message_label'));
    await question.fill('Hello, who are you?');
    await question.press('Enter');
    const finished = page.locator('li.assistant[aria-busy="false"]').last();
    await finished.waitFor({ timeout: 45_000 });
    const call = model.calls.at(-1);
    expect(call?.request.question).toBe('Hello, who are you?');
    expect(await finished.locator('.text').textContent()).toBe(call?.result?.text);

    // The session ends (expired, signed out elsewhere): the next message takes the page back to the sign-in page.
    await context.clearCookies();
    await question.fill('Still there?');
    await question.press('Enter');
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await page.getByLabel(t('en', 'access.token_label')).waitFor();
    await context.close();
  });
});
