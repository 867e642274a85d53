import type { IncomingMessage, ServerResponse } from 'node:http';
import { t } from '../../src/i18n/catalog.ts';

/** Bounds on open event streams: each holds a socket (a file descriptor) for as long as the page is open. */
export interface StreamLimits {
  /** Streams open at once, from everyone (WEB_MAX_STREAMS). @defaultValue 500 */
  total: number;
  /** Streams open at once from one client address (WEB_MAX_STREAMS_PER_CLIENT). @defaultValue 20 */
  perClient: number;
}

/** Default stream limits. */
export const defaultStreamLimits = { total: 500, perClient: 20 } as const satisfies StreamLimits;

/** Server-Sent Event streams of the web chat, by channel. */
export class ChannelHub {
  private readonly streams = new Map<string, Set<ServerResponse>>();
  private readonly perClient = new Map<string, number>();
  private open = 0;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly limits: StreamLimits;

  constructor(keepAliveMs = 15_000, limits: Partial<StreamLimits> = {}) {
    this.limits = { ...defaultStreamLimits, ...limits };
    this.keepAlive = setInterval(() => this.ping(), keepAliveMs);
    this.keepAlive.unref();
  }

  /**
   * Opens an event stream on `response` for `channel`, or refuses it when the client (by address) or everyone holds
   * as many as the limits allow: 429 or 503 with the reason in `language`, and the connection closed, so a flood of
   * streams cannot use up the process's sockets (and `/healthz` with them).
   */
  subscribe(channel: string, request: IncomingMessage, response: ServerResponse, language: string): void {
    const client = request.socket.remoteAddress ?? 'unknown';
    const fromClient = this.perClient.get(client) ?? 0;
    if (fromClient >= this.limits.perClient || this.open >= this.limits.total) {
      response.writeHead(fromClient >= this.limits.perClient ? 429 : 503, {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store',
        'retry-after': '30',
        connection: 'close',
      });
      response.end(JSON.stringify({ error: 'too_many_streams', message: t(language, 'web.too_many_streams') }));
      return;
    }
    this.open += 1;
    this.perClient.set(client, fromClient + 1);
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write(': connected\n\n');
    let set = this.streams.get(channel);
    if (set === undefined) {
      set = new Set();
      this.streams.set(channel, set);
    }
    set.add(response);
    response.on('close', () => {
      this.open -= 1;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
      set.delete(response);
      if (set.size === 0 && this.streams.get(channel) === set) this.streams.delete(channel);
    });
  }

  /** Sends one event to every stream of `channel`. */
  send(channel: string, event: 'progress' | 'reply' | 'error', data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const response of this.streams.get(channel) ?? []) response.write(frame);
  }

  /** Ends every stream. */
  close(): void {
    clearInterval(this.keepAlive);
    for (const set of this.streams.values()) for (const response of set) response.end();
    this.streams.clear();
  }

  private ping(): void {
    for (const set of this.streams.values()) for (const response of set) response.write(': ping\n\n');
  }
}
