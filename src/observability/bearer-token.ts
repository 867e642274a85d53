import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * True when the request carries `token`: `Authorization: Bearer <token>` (Prometheus' `authorization` setting,
 * scripts) or HTTP Basic with the token as password (a browser's login prompt, for Bull Board). Compared in constant
 * time on digests so neither the token nor its length leaks.
 */
export function hasToken(request: IncomingMessage, token: string): boolean {
  const header = request.headers.authorization ?? '';
  const [scheme = '', credentials = ''] = header.split(' ', 2);
  let offered: string | undefined;
  if (scheme.toLowerCase() === 'bearer') offered = credentials;
  else if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    offered = decoded.slice(decoded.indexOf(':') + 1);
  }
  return offered !== undefined && offered !== '' && timingSafeEqual(digest(offered), digest(token));
}
