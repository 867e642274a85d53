import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** The hostname of a `Host` header (`name`, `name:port`, `[v6]:port`), lower-cased without brackets; undefined if malformed. */
export function hostnameOf(host: string): string | undefined {
  try {
    const { hostname } = new URL(`http://${host}`);
    return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Which `Host` and `Origin` headers a server trusts, against cross-site requests and DNS rebinding.
 *
 * A `Host` is trusted when it is an IP literal (a rebinding page reaches the server under its own DNS name, never an
 * address), `localhost`, or the host of the configured public URL (`WEB_PUBLIC_URL`). A state-changing request is
 * trusted when its `Origin` is this server itself (the trusted `Host` it was sent to, or the public URL) or, without
 * an `Origin`, when `Sec-Fetch-Site` is absent (a script, not a browser), `same-origin` or `none` (typed by the user).
 */
export class OriginPolicy {
  private readonly publicHostname: string | undefined;
  private readonly publicOrigin: string | undefined;

  /** @param publicUrl - the address people use (`https://chat.example.com`), when it is a DNS name. */
  constructor(publicUrl?: string) {
    if (publicUrl === undefined) return;
    const url = new URL(publicUrl);
    this.publicHostname = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    this.publicOrigin = url.origin;
  }

  /** True when the request's `Host` names this server (absent: not a browser, which always sends one). */
  allowsHost(request: IncomingMessage): boolean {
    const host = request.headers.host;
    if (host === undefined) return true;
    const hostname = hostnameOf(host);
    if (hostname === undefined) return false;
    return isIP(hostname) !== 0 || hostname === 'localhost' || hostname === this.publicHostname;
  }

  /** True when a POST (PUT, DELETE, ...) may change state: it comes from this server's own pages or from no browser. */
  allowsStateChange(request: IncomingMessage): boolean {
    if (!this.allowsHost(request)) return false;
    const origin = request.headers.origin;
    if (origin !== undefined) {
      if (origin === this.publicOrigin) return true;
      let originHost: string;
      try {
        originHost = new URL(origin).host; // throws on `null` (sandboxed frames, file: pages)
      } catch {
        return false;
      }
      return request.headers.host !== undefined && originHost === request.headers.host.toLowerCase();
    }
    const site = request.headers['sec-fetch-site'];
    return site === undefined || site === 'same-origin' || site === 'none';
  }
}
