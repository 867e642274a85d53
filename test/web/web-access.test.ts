import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import { StartupError } from '../../src/cli/startup-error.ts';
import { t } from '../../src/i18n/catalog.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { CliProcess } from '../support/cli-process.ts';
import { rawRequest } from '../support/raw-http.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

const token = 'team-token-0123456789abcdef';

/** Signs in with `offered` from the page's own origin; the response, redirects not followed. */
function signIn(web: WebAdapter, offered: string): Promise<Response> {
  return fetch(`${web.url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: web.url },
    body: new URLSearchParams({ token: offered }).toString(),
  });
}

/** The `name=value` part of a Set-Cookie header. */
function cookiePair(setCookie: string | null): string {
  return (setCookie ?? '').split(';')[0] ?? '';
}

// WEB_ACCESS_TOKEN: the chat on a reachable address lets in only whoever signs in with the team's token. Real
// servers, real Redis; the requests are what a browser or a script sends.
describe('web chat access: token sign-in, session cookie, trusted user header', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let guarded: WebAdapter;
  let throttled: WebAdapter;
  const enqueued = async () => (await redis.connection.keys(`${redis.prefix}:seen:*`)).length;

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    guarded = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      accessToken: token,
    });
    throttled = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      accessToken: token,
      signInAttempts: { failuresPerWindow: 3, windowMs: 60_000 },
    });
  });
  afterAll(async () => {
    await guarded?.close();
    await throttled?.close();
    await pipeline?.queues.close();
  });

  it('answers 401 on every API route and the event stream without a session, and stores nothing', async () => {
    const sha = 'a'.repeat(64);
    const json = { 'content-type': 'application/json', origin: guarded.url };
    const requests: Array<[string, RequestInit]> = [
      ['/api/info', {}],
      ['/api/strings?language=en', {}],
      [`/api/images/${sha}`, {}],
      ['/api/channels/team/history', {}],
      ['/api/channels/team/events', { headers: { accept: 'text/event-stream' } }],
      ['/api/channels/team/messages', { method: 'POST', headers: json, body: JSON.stringify({ text: 'hello' }) }],
      ['/api/channels/team/reset', { method: 'POST', headers: json, body: '{}' }],
      ['/index.html', {}],
    ];
    for (const [path, init] of requests) {
      const response = await fetch(`${guarded.url}${path}`, init);
      expect(response.status, path).toBe(401);
      expect(await response.json(), path).toEqual({ error: 'unauthorized', login: '/sign-in' });
    }
    // A wrong bearer token and a forged cookie are no better than none.
    for (const headers of [
      { authorization: 'Bearer not-the-token-at-all' },
      { cookie: `zvb_web=${Math.floor(Date.now() / 1000) + 3600}.forged` },
    ]) {
      expect((await fetch(`${guarded.url}/api/info`, { headers })).status).toBe(401);
    }
    expect(await enqueued()).toBe(0);
    // A person opening the chat is shown the sign-in page; the probes stay open for the kubelet.
    const page = await fetch(`${guarded.url}/`, { redirect: 'manual', headers: { accept: 'text/html' } });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/sign-in');
    const signInPage = await fetch(`${guarded.url}/sign-in`, { headers: { 'accept-language': 'zh-CN' } });
    expect(signInPage.status).toBe(200);
    expect(signInPage.headers.get('x-frame-options')).toBe('DENY');
    expect(await signInPage.text()).toContain(t('zh-CN', 'access.token_label'));
    expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
  });

  it('signs in with the token: an HttpOnly, SameSite session cookie that opens the API and the stream', async () => {
    const response = await signIn(guarded, token);
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/');
    const setCookie = response.headers.get('set-cookie') ?? '';
    const attributes = setCookie.split(';').map((part) => part.trim());
    expect(attributes[0]).toMatch(/^zvb_web=\d+\.[A-Za-z0-9_-]+$/);
    expect(attributes).toEqual(expect.arrayContaining(['Path=/', 'Max-Age=604800', 'HttpOnly', 'SameSite=Lax']));
    expect(attributes).not.toContain('Secure'); // plain http here; an https WEB_PUBLIC_URL adds it (below)
    // The cookie proves the token was shown without carrying it.
    expect(setCookie).not.toContain(token);
    const cookie = cookiePair(setCookie);

    expect((await fetch(`${guarded.url}/api/info`, { headers: { cookie } })).status).toBe(200);
    const posted = await fetch(`${guarded.url}/api/channels/team/messages`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', origin: guarded.url },
      body: JSON.stringify({ text: 'hello', clientMessageId: 'signed-in-1' }),
    });
    expect(posted.status).toBe(202);
    const controller = new AbortController();
    const stream = await fetch(`${guarded.url}/api/channels/team/events`, {
      headers: { cookie },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    controller.abort();
    // Scripts may send the token itself.
    const script = await fetch(`${guarded.url}/api/info`, { headers: { authorization: `Bearer ${token}` } });
    expect(script.status).toBe(200);
    // Signed in, the sign-in page sends the person on to the chat; signing out clears the cookie.
    const again = await fetch(`${guarded.url}/sign-in`, { redirect: 'manual', headers: { cookie } });
    expect(again.status).toBe(303);
    const signOut = await fetch(`${guarded.url}/sign-out`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, origin: guarded.url },
    });
    expect(signOut.status).toBe(303);
    expect(signOut.headers.get('set-cookie')).toMatch(/^zvb_web=; .*Max-Age=0/);
  });

  it('refuses a sign-in posted by another site', async () => {
    const response = await fetch(`${guarded.url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('set-cookie')).toBeNull();
  });

  it('refuses wrong tokens, then every attempt from that address for the rest of the window', async () => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const wrong = await signIn(throttled, `wrong-token-${attempt}-0123456789`);
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('set-cookie')).toBeNull();
      expect(await wrong.text()).toContain(t('en', 'access.wrong_token'));
    }
    // Used up: even the right token is not looked at until the window ends.
    const limited = await signIn(throttled, token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(limited.headers.get('set-cookie')).toBeNull();
    // The other server's count is its own: the right token still works there.
    expect((await signIn(guarded, token)).status).toBe(303);
  });

  it('marks the cookie Secure when the public address is https', async () => {
    const secure = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      accessToken: token,
      publicUrl: 'https://chat.example.com',
    });
    try {
      const response = await rawRequest(`${secure.url}/sign-in`, {
        method: 'POST',
        headers: {
          host: 'chat.example.com',
          origin: 'https://chat.example.com',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }).toString(),
      });
      expect(response.status).toBe(303);
      expect(response.headers['set-cookie']?.[0]).toMatch(/; HttpOnly; SameSite=Lax; Secure$/);
    } finally {
      await secure.close();
    }
  });

  it('gives each person the auth proxy names their own rate limit, and refuses requests it did not name', async () => {
    const limited = testPipeline(redis.connection, `${redis.prefix}-people`, { RATE_LIMIT_USER_PER_MINUTE: 2 });
    const proxied = await startWebAdapter(limited, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      trustedUserHeader: 'x-forwarded-email',
    });
    const post = (person: string | undefined, index: number) =>
      fetch(`${proxied.url}/api/channels/shared/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(person === undefined ? {} : { 'x-forwarded-email': person }),
        },
        body: JSON.stringify({
          text: `message ${index}`,
          clientMessageId: `${person?.split('@')[0] ?? 'nobody'}-${index}`,
        }),
      });
    try {
      expect((await post(undefined, 0)).status).toBe(401);
      expect((await fetch(`${proxied.url}/api/info`)).status).toBe(401);
      // Two a minute each: alice's third is told to slow down (202, a rate_limited reply), her fourth dropped (429).
      const alice = [];
      for (let index = 0; index < 4; index += 1) alice.push((await post('alice@example.com', index)).status);
      expect(alice).toEqual([202, 202, 202, 429]);
      // Bob is someone else: his messages are his own.
      expect((await post('bob@example.com', 0)).status).toBe(202);
      expect((await post('bob@example.com', 1)).status).toBe(202);
    } finally {
      await proxied.close();
      await limited.queues.close();
    }
  });

  it('refuses to start on a reachable address without a token unless WEB_PUBLIC=true', async () => {
    const refused = startWebAdapter(pipeline, {
      port: 0,
      host: '0.0.0.0',
      eventsConnection: createRedisConnection(redis.url),
    });
    await expect(refused).rejects.toBeInstanceOf(StartupError);
    await expect(refused).rejects.toThrow(/WEB_HOST=0\.0\.0\.0 .*WEB_ACCESS_TOKEN.*WEB_PUBLIC=true/);
    const open = await startWebAdapter(pipeline, {
      port: 0,
      host: '0.0.0.0',
      publicChat: true,
      eventsConnection: createRedisConnection(redis.url),
    });
    await open.close();
  });

  it('`start` says so in one line and exits 1 before starting anything', async () => {
    const start = new CliProcess(['start'], { LOG_LEVEL: 'info', WEB_HOST: '0.0.0.0', WEB_PORT: '0' });
    expect(await start.exited).toBe(1);
    const lines = start.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^WEB_HOST=0\.0\.0\.0 lets other machines reach the web chat, and WEB_ACCESS_TOKEN is unset/,
    );
  });
});
