import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The dashboard's session cookie. */
export const adminCookieName = 'zvb_admin';

/** How long a dashboard login lasts. */
export const adminSessionSeconds = 12 * 60 * 60;

function signature(token: string, expiresAt: number): string {
  return createHmac('sha256', token).update(`zvb-admin-session:${expiresAt}`).digest('base64url');
}

/**
 * A session value for the admin who presented `token`: `<expiry>.<HMAC(token, expiry)>`. It proves the token was
 * presented without containing it, expires on its own, and stops working when ADMIN_TOKEN changes.
 */
export function adminSessionValue(token: string, now = Date.now()): string {
  const expiresAt = Math.floor(now / 1000) + adminSessionSeconds;
  return `${expiresAt}.${signature(token, expiresAt)}`;
}

/** The `Set-Cookie` header for a session: HttpOnly, SameSite=Strict, only under `path`; Secure over HTTPS. */
export function adminSessionCookie(value: string, path: string, secure: boolean, maxAge = adminSessionSeconds): string {
  return `${adminCookieName}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** True when the request carries an unexpired session cookie made with `token`. */
export function hasAdminSession(request: IncomingMessage, token: string, now = Date.now()): boolean {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value = ''] = part.trim().split('=', 2);
    if (name !== adminCookieName) continue;
    const [expiry = '', offered = ''] = value.split('.', 2);
    const expiresAt = Number(expiry);
    if (!Number.isSafeInteger(expiresAt) || expiresAt * 1000 <= now) continue;
    const expected = Buffer.from(signature(token, expiresAt));
    const given = Buffer.from(offered);
    if (given.byteLength === expected.byteLength && timingSafeEqual(given, expected)) return true;
  }
  return false;
}
