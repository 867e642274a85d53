import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

const adminToken = 'admin-secret-dashboard-7';
const basic = (token: string) => `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;
// Nothing consumes replies-discord in this test: a job added there stays waiting, so it can be counted.
const addPath = '/admin/queues/api/queues/replies-discord/add';
const forgedJob = JSON.stringify({ name: 'forged', data: { text: 'click https://evil.example' } });

/** Logs in through the form (as the admin's browser does) and returns the session cookie. */
async function logIn(adapter: WebAdapter): Promise<{ cookie: string; setCookie: string; location: string }> {
  const response = await fetch(`${adapter.url}/admin/queues/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      origin: adapter.url,
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams({ token: adminToken }).toString(),
  });
  expect(response.status).toBe(303);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0] ?? '', setCookie, location: response.headers.get('location') ?? '' };
}

// Bull Board on the web adapter (real Redis, real BullMQ, real HTTP): an admin's browser must not be usable by
// another site to add or change jobs (issue 18, finding 1).
describe('Bull Board: no Basic, session cookie, origin checks, read-only unless ADMIN_WRITE', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let readOnly: WebAdapter;
  let writable: WebAdapter;
  const waitingForged = async () =>
    (await pipeline.queues.repliesQueue('discord').getJobs(['waiting', 'delayed', 'prioritized'])).filter(
      (job) => job.name === 'forged',
    ).length;

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    const start = (adminWrite: boolean) =>
      startWebAdapter(pipeline, {
        port: 0,
        eventsConnection: createRedisConnection(redis.url),
        adminToken,
        adminWrite,
      });
    readOnly = await start(false);
    writable = await start(true);
  });
  afterAll(async () => {
    await readOnly?.close();
    await writable?.close();
    await pipeline?.queues.close();
  });

  it('refuses HTTP Basic (a browser re-sends it cross-site) and answers a bearer token', async () => {
    const page = await fetch(`${readOnly.url}/admin/queues`, { headers: { authorization: basic(adminToken) } });
    expect(page.status).toBe(401);
    const api = await fetch(`${readOnly.url}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(api.status).toBe(200);
    const browser = await fetch(`${readOnly.url}/admin/queues`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/admin/queues/login');
  });

  it('gives an HttpOnly, SameSite=Strict session cookie for the token, and none for a wrong one', async () => {
    const { cookie, setCookie, location } = await logIn(readOnly);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\/admin\/queues/);
    expect(setCookie).not.toContain(adminToken);
    const page = await fetch(`${readOnly.url}${location}`, { headers: { cookie, accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<div id="root">');
    // The page's own scripts and styles (relative to its <base href>) load with the cookie alone.
    const base = new URL(/<base href="([^"]+)"/.exec(html)?.[1] ?? location, readOnly.url);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map((match) => match[1] ?? '');
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      expect((await fetch(new URL(asset, base), { headers: { cookie } })).status, asset).toBe(200);
    }

    const wrong = await fetch(`${readOnly.url}/admin/queues/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: readOnly.url },
      body: 'token=guess',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const forgedCookie = await fetch(`${readOnly.url}/admin/queues/api/queues`, {
      headers: { cookie: `zvb_admin=${Math.floor(Date.now() / 1000) + 3600}.AAAA` },
    });
    expect(forgedCookie.status).toBe(401);
  });

  it('refuses the cross-site form post that added a forged reply, even with writes allowed', async () => {
    const { cookie } = await logIn(writable);
    for (const adapter of [readOnly, writable]) {
      // What a page on another site makes the admin's browser send: a text/plain form body parsed as JSON by Bull
      // Board, with every credential the browser holds for the dashboard.
      const response = await fetch(`${adapter.url}${addPath}`, {
        method: 'POST',
        headers: {
          'content-type': 'text/plain',
          origin: 'https://evil.example',
          'sec-fetch-site': 'cross-site',
          authorization: basic(adminToken),
          cookie,
        },
        body: forgedJob,
      });
      expect(response.status).toBe(403);
    }
    // A sandboxed frame (Origin: null) and a same-site sibling without Origin are refused too.
    for (const headers of [{ origin: 'null' }, { 'sec-fetch-site': 'same-site' }]) {
      const response = await fetch(`${writable.url}${addPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie, ...headers },
        body: forgedJob,
      });
      expect(response.status).toBe(403);
    }
    expect(await waitingForged()).toBe(0);
  });

  it('is read-only without ADMIN_WRITE, even for the admin on the dashboard itself', async () => {
    const response = await fetch(`${readOnly.url}${addPath}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: readOnly.url,
        'sec-fetch-site': 'same-origin',
        authorization: `Bearer ${adminToken}`,
      },
      body: forgedJob,
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { message: string }).message).toContain('ADMIN_WRITE=true');
    const queues = await fetch(`${readOnly.url}/admin/queues/api/queues`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const shown = (await queues.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(shown.queues.every((queue) => queue.readOnlyMode)).toBe(true);
    expect(await waitingForged()).toBe(0);
  });

  it('with ADMIN_WRITE, takes a same-origin change from the logged-in dashboard and from a bearer script', async () => {
    const { cookie } = await logIn(writable);
    const fromPage = await fetch(`${writable.url}${addPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: writable.url, 'sec-fetch-site': 'same-origin', cookie },
      body: forgedJob,
    });
    expect(fromPage.status).toBe(200);
    const fromScript = await fetch(`${writable.url}${addPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: forgedJob,
    });
    expect(fromScript.status).toBe(200);
    expect(await waitingForged()).toBe(2);
    await pipeline.queues.repliesQueue('discord').obliterate({ force: true });
  });
});
