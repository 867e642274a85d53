import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import { startOpsServer } from '../../src/observability/ops-endpoints.ts';
import { Readiness } from '../../src/observability/readiness.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { rawRequest } from '../support/raw-http.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

// Cross-site requests and DNS rebinding against the web chat (issue 18, finding 3): a page on another site may make
// the browser post to 127.0.0.1, or rebind its own name to 127.0.0.1 and read what the server answers. Real servers,
// real Redis; the requests are what a browser sends in each case.
describe('web chat: JSON only as application/json, Origin and Host checked', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let web: WebAdapter;
  let proxied: WebAdapter;
  const enqueued = async () => (await redis.connection.keys(`${redis.prefix}:seen:*`)).length;

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
    proxied = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      publicUrl: 'https://chat.example.com',
    });
  });
  afterAll(async () => {
    await web?.close();
    await proxied?.close();
    await pipeline?.queues.close();
  });

  it('refuses a text/plain body (what a no-cors fetch or a form can send) before reading it', async () => {
    for (const path of ['messages', 'reset']) {
      const response = await fetch(`${web.url}/api/channels/site/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        body: JSON.stringify({ text: 'forged' }),
      });
      expect(response.status).toBe(403);
    }
    // Even from the page itself, a text/plain body is not JSON.
    const plain = await fetch(`${web.url}/api/channels/site/messages`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', origin: web.url },
      body: JSON.stringify({ text: 'not json' }),
    });
    expect(plain.status).toBe(415);
    expect(await enqueued()).toBe(0);
  });

  it('refuses posts and resets from another origin, takes them from its own page and from scripts', async () => {
    for (const headers of [
      { origin: 'https://evil.example' },
      { origin: 'http://127.0.0.1.evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ]) {
      const response = await fetch(`${web.url}/api/channels/site/reset`, { method: 'POST', headers });
      expect(response.status, JSON.stringify(headers)).toBe(403);
      expect(await response.json()).toEqual({ error: 'cross_site_request' });
    }
    expect(await enqueued()).toBe(0);
    const own = await fetch(`${web.url}/api/channels/site/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: web.url, 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify({ text: 'hello from the page' }),
    });
    expect(own.status).toBe(202);
    const script = await fetch(`${web.url}/api/channels/site/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello from curl' }),
    });
    expect(script.status).toBe(202);
    expect(await enqueued()).toBe(2);
  });

  it('answers a rebinding name (Host: evil.example) nothing but the probes', async () => {
    const evil = { host: 'evil.example' };
    for (const path of ['/api/channels/site/history', '/metrics', '/', '/api/info', '/api/channels/site/events']) {
      const response = await rawRequest(`${web.url}${path}`, { headers: evil });
      expect(response.status, path).toBe(403);
      expect(response.body).toContain('forbidden_host');
    }
    const port = new URL(web.url).port;
    expect(
      (await rawRequest(`${web.url}/api/channels/site/history`, { headers: { host: `evil.example:${port}` } })).status,
    ).toBe(403);
    expect((await rawRequest(`${web.url}/healthz`, { headers: evil })).status).toBe(200);
    // The page's own names: the address it listens on and localhost.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const history = await rawRequest(`${web.url}/api/channels/site/history`, { headers: { host } });
      expect(history.status, host).toBe(200);
      expect((await rawRequest(`${web.url}/metrics`, { headers: { host } })).status, host).toBe(200);
    }
  });

  it('trusts the WEB_PUBLIC_URL name and origin behind a proxy', async () => {
    const host = { host: 'chat.example.com' };
    expect((await rawRequest(`${proxied.url}/api/channels/site/history`, { headers: host })).status).toBe(200);
    const posted = await rawRequest(`${proxied.url}/api/channels/site/messages`, {
      method: 'POST',
      headers: { ...host, origin: 'https://chat.example.com', 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'through the proxy' }),
    });
    expect(posted.status).toBe(202);
    expect(
      (await rawRequest(`${proxied.url}/api/channels/site/history`, { headers: { host: 'evil.example' } })).status,
    ).toBe(403);
  });

  it('keeps /metrics of a worker or Lark process (loopback, no token) from a rebinding page', async () => {
    const ops = await startOpsServer(
      { registry: createMetricsRegistry([]), readiness: new Readiness() },
      { port: 0, host: '127.0.0.1' },
    );
    try {
      expect((await rawRequest(`${ops.url}/metrics`, { headers: { host: 'evil.example' } })).status).toBe(401);
      expect((await rawRequest(`${ops.url}/metrics`)).status).toBe(200);
    } finally {
      await ops.close();
    }
  });
});
