import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** What a kind of session cookie is: its name, what its signature is for, and how long it lasts. */
export interface SessionKind {
  /** The cookie's name. */
  cookieName: string;
  /** Signed with the value, so one kind's cookie is never taken for another's made with the same token. */
  purpose: string;
  /** Lifetime in seconds. */
  seconds: number;
}

function signature(kind: SessionKind, token: string, expiresAt: number): string {
  return createHmac('sha256', token).update(`${kind.purpose}:${expiresAt}`).digest('base64url');
}

/**
 * A session value for whoever presented `token`: `<expiry>.<HMAC(token, purpose:expiry)>`. It proves the token was
 * presented without containing it, expires on its own, and stops working when the token changes.
 */
export function signedSessionValue(kind: SessionKind, token: string, now = Date.now()): string {
  const expiresAt = Math.floor(now / 1000) + kind.seconds;
  return `${expiresAt}.${signature(kind, token, expiresAt)}`;
}

/** The `Set-Cookie` header for a session value: HttpOnly, the given SameSite, only under `path`; Secure over HTTPS. */
export function sessionCookie(
  kind: SessionKind,
  value: string,
  options: { path: string; secure: boolean; sameSite: 'Strict' | 'Lax'; maxAge?: number },
): string {
  const maxAge = options.maxAge ?? kind.seconds;
  return `${kind.cookieName}=${value}; Path=${options.path}; Max-Age=${maxAge}; HttpOnly; SameSite=${options.sameSite}${options.secure ? '; Secure' : ''}`;
}

/** True when the request carries an unexpired session cookie of `kind` made with `token`. */
export function hasSignedSession(
  kind: SessionKind,
  request: IncomingMessage,
  token: string,
  now = Date.now(),
): boolean {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value = ''] = part.trim().split('=', 2);
    if (name !== kind.cookieName) continue;
    const [expiry = '', offered = ''] = value.split('.', 2);
    const expiresAt = Number(expiry);
    if (!Number.isSafeInteger(expiresAt) || expiresAt * 1000 <= now) continue;
    const expected = Buffer.from(signature(kind, token, expiresAt));
    const given = Buffer.from(offered);
    if (given.byteLength === expected.byteLength && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
