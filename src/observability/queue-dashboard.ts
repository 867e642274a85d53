import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { getRequestListener } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import type { OriginPolicy } from '../http/origin-policy.ts';
import { t } from '../i18n/catalog.ts';
import { adminSessionCookie, adminSessionValue, hasAdminSession } from './admin-session.ts';
import { hasBearerToken, matchesToken } from './bearer-token.ts';
import { type QueueDashboardHandler, queueDashboardPath } from './ops-endpoints.ts';

/** Options of {@link createQueueDashboard}. */
export interface QueueDashboardOptions {
  /** ADMIN_TOKEN: presented as `Authorization: Bearer`, or once on the login form for a session cookie. */
  token: string;
  /** ADMIN_WRITE: allow retries, removals, added jobs... @defaultValue false (read-only) */
  write?: boolean;
  /** Which Host and Origin are this server's (state-changing requests from elsewhere are refused). */
  originPolicy: OriginPolicy;
  /** Send the cookie with `Secure` (the public URL is https). @defaultValue false */
  secureCookies?: boolean;
}

const loginPath = `${queueDashboardPath}/login`;
const logoutPath = `${queueDashboardPath}/logout`;
const maxLoginBodyBytes = 4096;
const pageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
} as const;

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

function languageOf(request: IncomingMessage): string {
  return request.headers['accept-language']?.split(',')[0]?.split(';')[0]?.trim() || 'en';
}

function loginPage(request: IncomingMessage, response: ServerResponse, status: number, failed: boolean): void {
  const language = languageOf(request);
  const title = t(language, 'admin.title');
  response.writeHead(status, pageHeaders);
  response.end(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto;">
<h1 style="font-size: 1.2rem;">${title}</h1>
${failed ? `<p role="alert" style="color: #b00020;">${t(language, 'admin.wrong_token')}</p>` : ''}
<form method="post" action="${loginPath}">
<label>${t(language, 'admin.token_label')}<br><input type="password" name="token" autocomplete="current-password" required style="width: 100%;"></label>
<p><button type="submit">${t(language, 'admin.sign_in')}</button></p>
</form></body></html>
`);
}

/** The login form's token field, read from at most {@link maxLoginBodyBytes}; undefined when it is not a form post. */
async function postedToken(request: IncomingMessage): Promise<string | undefined> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  if (Number(request.headers['content-length'] ?? 0) > maxLoginBodyBytes) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > maxLoginBodyBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? undefined;
}

/**
 * Bull Board (the queues' jobs, retries, failures) for a node:http server. Authentication is a bearer token (scripts)
 * or a session cookie (HttpOnly, SameSite=Strict) that the login form at `/admin/queues/login` gives for the token;
 * never HTTP Basic, which browsers re-send on cross-site requests. Read-only unless `write`; even then, a
 * state-changing request must come from the dashboard's own origin. Bull Board's Hono adapter serves it; Hono's Node
 * adapter turns it into a plain request listener.
 */
export function createQueueDashboard(queues: readonly Queue[], options: QueueDashboardOptions): QueueDashboardHandler {
  const write = options.write ?? false;
  const serverAdapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: !write })),
    serverAdapter,
  });
  serverAdapter.setBasePath(queueDashboardPath);
  const app = new Hono().route(queueDashboardPath, serverAdapter.registerPlugin());
  const listener = getRequestListener(app.fetch);
  const setCookie = (response: ServerResponse, value: string, maxAge?: number) =>
    response.setHeader(
      'set-cookie',
      adminSessionCookie(value, queueDashboardPath, options.secureCookies ?? false, maxAge),
    );

  return async (request, response) => {
    response.setHeader('x-frame-options', 'DENY');
    const method = request.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (!reading && !options.originPolicy.allowsStateChange(request)) {
      return sendJson(response, 403, { error: 'cross_site_request' });
    }
    if (path === loginPath) {
      if (reading) return loginPage(request, response, 200, false);
      if (method !== 'POST') return sendJson(response, 405, { error: 'method_not_allowed' });
      if (!matchesToken(await postedToken(request), options.token)) return loginPage(request, response, 401, true);
      setCookie(response, adminSessionValue(options.token));
      response.writeHead(303, { location: queueDashboardPath, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    if (path === logoutPath && method === 'POST') {
      setCookie(response, '', 0);
      response.writeHead(303, { location: loginPath, 'cache-control': 'no-store' });
      response.end();
      return;
    }
    if (!hasBearerToken(request, options.token) && !hasAdminSession(request, options.token)) {
      if (reading && (request.headers.accept ?? '').includes('text/html')) {
        response.writeHead(303, { location: loginPath, 'cache-control': 'no-store' });
        response.end();
        return;
      }
      response.setHeader('www-authenticate', 'Bearer realm="ziya-visual-bot admin"');
      return sendJson(response, 401, { error: 'unauthorized', login: loginPath });
    }
    if (!reading && !write) {
      return sendJson(response, 403, { error: 'read_only', message: t(languageOf(request), 'admin.read_only') });
    }
    await listener(request, response);
  };
}
