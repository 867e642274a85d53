import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordImageDownloader, DiscordCdnError } from '../../adapters/discord/download-image.ts';

// A CDN that stops answering must not hold the ingest job (and its channel's line) for as long as it hangs.
describe('Discord image download: a CDN that hangs', () => {
  let server: Server;
  let origin = '';
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/attachments/headers-only.png') {
        response.writeHead(200, { 'content-type': 'image/png', 'content-length': '1000' });
        response.write(Buffer.alloc(10)); // then nothing more
      }
      // Any other path: no answer at all.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each(['no-answer.png', 'headers-only.png'])(
    'gives up on %s after timeoutMs with a retryable error',
    async (name) => {
      const download = createDiscordImageDownloader({ imageOrigins: [origin], maxBytes: 1 << 20, timeoutMs: 300 });
      const started = Date.now();
      const failure = await download({ kind: 'url', url: `${origin}/attachments/${name}`, fileName: name }).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(DiscordCdnError);
      expect(Date.now() - started).toBeLessThan(3000);
    },
  );
});
