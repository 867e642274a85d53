import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The credentials of the request's `Authorization` header under `scheme` (lower-case), or undefined. */
function credentialsOf(request: IncomingMessage, scheme: 'bearer' | 'basic'): string | undefined {
  const [given = '', credentials = ''] = (request.headers.authorization ?? '').split(' ', 2);
  return given.toLowerCase() === scheme ? credentials : undefined;
}

/** True when `offered` is `token`, compared in constant time on digests so neither the token nor its length leaks. */
export function matchesToken(offered: string | undefined, token: string): boolean {
  return offered !== undefined && offered !== '' && timingSafeEqual(digest(offered), digest(token));
}

/** True when the request carries `Authorization: Bearer <token>` (never sent by a browser on its own). */
export function hasBearerToken(request: IncomingMessage, token: string): boolean {
  return matchesToken(credentialsOf(request, 'bearer'), token);
}

/**
 * True when the request carries `token`: `Authorization: Bearer <token>` (Prometheus' `authorization` setting,
 * scripts) or HTTP Basic with the token as password (Prometheus' `basic_auth`; for `/metrics` only, which changes
 * nothing: a browser re-sends Basic credentials on cross-site requests).
 */
export function hasToken(request: IncomingMessage, token: string): boolean {
  if (hasBearerToken(request, token)) return true;
  const basic = credentialsOf(request, 'basic');
  if (basic === undefined) return false;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  return matchesToken(decoded.slice(decoded.indexOf(':') + 1), token);
}
