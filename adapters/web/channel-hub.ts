import type { ServerResponse } from 'node:http';

/** Server-Sent Event streams of the web chat, by channel. */
export class ChannelHub {
  private readonly streams = new Map<string, Set<ServerResponse>>();
  private readonly keepAlive: NodeJS.Timeout;

  constructor(keepAliveMs = 15_000) {
    this.keepAlive = setInterval(() => this.ping(), keepAliveMs);
    this.keepAlive.unref();
  }

  /** Opens an event stream on `response` for `channel`. */
  subscribe(channel: string, response: ServerResponse): void {
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
