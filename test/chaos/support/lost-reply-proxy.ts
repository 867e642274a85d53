import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of Redis that can lose one reply: the client command containing a marker reaches Redis (and
 * is carried out), then the connection is cut before the reply comes back, as when Redis crashes right after
 * executing a command. The client reconnects through the proxy as usual.
 */
export class LostReplyProxy {
  private marker: string | undefined;
  private onCut: (() => void) | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on a free local port and forwards to Redis on `targetPort`. */
  static async start(targetPort: number): Promise<LostReplyProxy> {
    let proxy: LostReplyProxy | undefined;
    const server = createServer((client) => proxy?.forward(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    proxy = new LostReplyProxy(server, `redis://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  /** The next command containing `marker` is carried out but its reply is lost; resolves once the cut happened. */
  async loseReplyTo(marker: string): Promise<void> {
    this.marker = marker;
    await new Promise<void>((resolve) => {
      this.onCut = resolve;
    });
  }

  /** Stops the proxy and its connections. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private forward(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    let cutting = false;
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk: Buffer) => {
      if (!cutting) client.write(chunk);
    });
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.marker === undefined || !chunk.includes(this.marker)) return;
      this.marker = undefined;
      cutting = true;
      // Redis answers within this time; the answer is dropped, then both sides are cut.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
        this.onCut?.();
      }, 100);
    });
  }
}
