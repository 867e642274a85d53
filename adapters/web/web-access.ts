import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { StartupError } from '../../src/cli/startup-error.ts';
import {
  hasSignedSession,
  type SessionKind,
  sessionCookie,
  signedSessionValue,
} from '../../src/http/signed-session.ts';
import { t } from '../../src/i18n/catalog.ts';
import { hasBearerToken, matchesToken } from '../../src/observability/bearer-token.ts';
import { type SignInAttemptLimits, SignInAttempts } from './sign-in-attempts.ts';

/** Who a web chat request comes from: the rate limits count per user id. */
export interface WebUser {
  id: string;
  name: string;
}

/** Options of {@link WebAccess}. */
export interface WebAccessOptions {
  /** WEB_ACCESS_TOKEN: people sign in with it once (then a session cookie); scripts send it as a bearer token. */
  accessToken?: string | undefined;
  /** WEB_TRUSTED_USER_HEADER (lower-case): the auth proxy's header naming the person; required on every request. */
  trustedUserHeader?: string | undefined;
  /** Send the cookie with `Secure` (the public URL is https). @defaultValue false */
  secureCookies?: boolean;
  /** Wrong tokens allowed per client address. @defaultValue 5 a minute */
  signInAttempts?: SignInAttemptLimits;
}

/** The sign-in page; a POST to it with the form's `token` field signs in. */
export const signInPath = '/sign-in';
/** A POST here ends the session. */
export const signOutPath = '/sign-out';

/** The chat's session cookie: a week, then the sign-in page again. */
export const webSession = {
  cookieName: 'zvb_web',
  purpose: 'zvb-web-session',
  seconds: 7 * 24 * 60 * 60,
} as const satisfies SessionKind;

/** Everyone is this one user when no auth proxy names people. */
const sharedWebUser = { id: 'web-user', name: 'Web user' } as const satisfies WebUser;
const maxUserNameLength = 200;
const maxSignInBodyBytes = 4096;
const pageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
} as const;

/** True for an address only this machine reaches: `localhost`, 127.0.0.0/8, `::1` (and its IPv4-mapped form). */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (name === 'localhost' || name === '::1') return true;
  const ipv4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name;
  return isIP(ipv4) === 4 && ipv4.startsWith('127.');
}

/**
 * Refuses to serve the web chat beyond this machine with no one asked who they are: a non-loopback WEB_HOST needs
 * WEB_ACCESS_TOKEN, or WEB_PUBLIC=true to say that is meant (an auth proxy in front, a demo on purpose).
 */
export function assertWebAccessConfigured(host: string, accessToken: string | undefined, publicChat: boolean): void {
  if (isLoopbackHost(host) || accessToken !== undefined || publicChat) return;
  throw new StartupError(
    `WEB_HOST=${host} lets other machines reach the web chat, and WEB_ACCESS_TOKEN is unset: set WEB_ACCESS_TOKEN (16+ characters; people sign in once with it), or WEB_PUBLIC=true if anyone who can reach the port may use it (e.g. behind an auth proxy, with WEB_TRUSTED_USER_HEADER)`,
  );
}

function languageOf(request: IncomingMessage): string {
  return request.headers['accept-language']?.split(',')[0]?.split(';')[0]?.trim() || 'en';
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(JSON.stringify(body));
}

function redirect(response: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  response.writeHead(303, { location, 'cache-control': 'no-store', ...headers });
  response.end();
}

function signInPage(request: IncomingMessage, response: ServerResponse, status: number, notice?: string): void {
  const language = languageOf(request);
  const title = t(language, 'access.title');
  response.writeHead(status, pageHeaders);
  response.end(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem;">
<h1 style="font-size: 1.2rem;">${title}</h1>
${notice === undefined ? '' : `<p role="alert" style="color: #b00020;">${notice}</p>`}
<form method="post" action="${signInPath}">
<label>${t(language, 'access.token_label')}<br><input type="password" name="token" autocomplete="current-password" required autofocus style="width: 100%; font-size: 1rem;"></label>
<p><button type="submit">${t(language, 'access.sign_in')}</button></p>
</form></body></html>
`);
}

/** The sign-in form's token field, read from at most {@link maxSignInBodyBytes}; undefined when it is not a form post. */
async function postedToken(request: IncomingMessage): Promise<string | undefined> {
  if (!(request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return undefined;
  if (Number(request.headers['content-length'] ?? 0) > maxSignInBodyBytes) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > maxSignInBodyBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('token') ?? undefined;
}

/**
 * Who may use the web chat. With an access token: a session cookie (HttpOnly, SameSite=Lax, a week) given by the
 * sign-in page for the token, or the token as a bearer token; anything else gets 401 (a page navigation is sent to
 * the sign-in page). Wrong tokens are limited per client address. With a trusted user header: each person is the
 * user the auth proxy names; a request without the header is refused. With neither: everyone is one user.
 */
export class WebAccess {
  private readonly attempts: SignInAttempts;

  constructor(private readonly options: WebAccessOptions = {}) {
    this.attempts = new SignInAttempts(options.signInAttempts);
  }

  /**
   * Answers the sign-in routes and refuses requests without access (the response is then sent); otherwise the user
   * the request comes from. Called after the Host and Origin checks.
   */
  async admit(request: IncomingMessage, response: ServerResponse, path: string): Promise<WebUser | undefined> {
    const token = this.options.accessToken;
    const method = request.method ?? 'GET';
    if (token !== undefined && path === signInPath) {
      if (method === 'GET' || method === 'HEAD') {
        if (this.hasSession(request, token)) redirect(response, '/');
        else signInPage(request, response, 200);
      } else if (method === 'POST') await this.signIn(request, response, token);
      else sendJson(response, 405, { error: 'method_not_allowed' });
      return undefined;
    }
    if (token !== undefined && path === signOutPath && method === 'POST') {
      redirect(response, signInPath, { 'set-cookie': this.cookie('', 0) });
      return undefined;
    }
    if (token !== undefined && !this.hasSession(request, token) && !hasBearerToken(request, token)) {
      const navigating =
        (method === 'GET' || method === 'HEAD') && (request.headers.accept ?? '').includes('text/html');
      if (navigating && !path.startsWith('/api/')) redirect(response, signInPath);
      else sendJson(response, 401, { error: 'unauthorized', login: signInPath }, { 'www-authenticate': 'Bearer' });
      return undefined;
    }
    const header = this.options.trustedUserHeader;
    if (header === undefined) return sharedWebUser;
    const named = request.headers[header];
    const person = (Array.isArray(named) ? named[0] : named)?.trim().slice(0, maxUserNameLength) ?? '';
    if (person === '') {
      sendJson(response, 401, {
        error: 'unauthorized',
        message: `no ${header} header (the auth proxy names the user)`,
      });
      return undefined;
    }
    return { id: `proxy-${person}`, name: person };
  }

  private hasSession(request: IncomingMessage, token: string): boolean {
    return hasSignedSession(webSession, request, token);
  }

  private cookie(value: string, maxAge?: number): string {
    // Lax, not Strict: a link to the chat from mail or another site opens it signed in. Cross-site POSTs and
    // cross-site fetches still carry no cookie, and every POST is refused unless its Origin is this server.
    return sessionCookie(webSession, value, {
      path: '/',
      secure: this.options.secureCookies ?? false,
      sameSite: 'Lax',
      ...(maxAge === undefined ? {} : { maxAge }),
    });
  }

  private async signIn(request: IncomingMessage, response: ServerResponse, token: string): Promise<void> {
    const address = request.socket.remoteAddress ?? 'unknown';
    const language = languageOf(request);
    const wait = this.attempts.waitFor(address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      response.setHeader('retry-after', String(seconds));
      response.setHeader('connection', 'close'); // the body is not read
      return signInPage(request, response, 429, t(language, 'access.too_many_attempts', { seconds }));
    }
    if (!matchesToken(await postedToken(request), token)) {
      this.attempts.fail(address);
      return signInPage(request, response, 401, t(language, 'access.wrong_token'));
    }
    redirect(response, '/', { 'set-cookie': this.cookie(signedSessionValue(webSession, token)) });
  }
}
