import type { IncomingMessage } from 'node:http';
import { hasSignedSession, type SessionKind, sessionCookie, signedSessionValue } from '../http/signed-session.ts';

/** The dashboard's session cookie. */
export const adminCookieName = 'zvb_admin';

/** How long a dashboard login lasts. */
export const adminSessionSeconds = 12 * 60 * 60;

const adminSession = {
  cookieName: adminCookieName,
  purpose: 'zvb-admin-session',
  seconds: adminSessionSeconds,
} as const satisfies SessionKind;

/**
 * A session value for the admin who presented `token`: `<expiry>.<HMAC(token, expiry)>`. It proves the token was
 * presented without containing it, expires on its own, and stops working when ADMIN_TOKEN changes.
 */
export function adminSessionValue(token: string, now = Date.now()): string {
  return signedSessionValue(adminSession, token, now);
}

/** The `Set-Cookie` header for a session: HttpOnly, SameSite=Strict, only under `path`; Secure over HTTPS. */
export function adminSessionCookie(value: string, path: string, secure: boolean, maxAge = adminSessionSeconds): string {
  return sessionCookie(adminSession, value, { path, secure, sameSite: 'Strict', maxAge });
}

/** True when the request carries an unexpired session cookie made with `token`. */
export function hasAdminSession(request: IncomingMessage, token: string, now = Date.now()): boolean {
  return hasSignedSession(adminSession, request, token, now);
}
