import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AESCipher, type EventDispatcher } from '@larksuiteoapi/node-sdk';
import type { Logger } from '../../src/observability/logger.ts';

/** The path Lark posts events to. */
export const webhookPath = '/lark/events';

/** Options of the webhook transport. */
export interface WebhookOptions {
  port: number;
  host: string;
  encryptKey?: string;
  verificationToken?: string;
  dispatcher: EventDispatcher;
  logger: Logger;
  /** Requests whose `X-Lark-Request-Timestamp` is further than this from now are refused (replays). @defaultValue 300 */
  maxClockSkewSeconds?: number;
}

/** A running webhook server. */
export interface WebhookServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const maxBodyBytes = 1024 * 1024;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > maxBodyBytes) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

function sameText(left: string, right: string): boolean {
  const a = Buffer.from(left);
  const b = Buffer.from(right);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** `sha256(timestamp + nonce + encryptKey + body)`, hex: Lark's `X-Lark-Signature`. */
export function larkSignature(timestamp: string, nonce: string, encryptKey: string, body: string): string {
  return createHash('sha256')
    .update(timestamp + nonce + encryptKey + body)
    .digest('hex');
}

/**
 * Serves `POST /lark/events` (`LARK_MODE=webhook`): answers `url_verification`, checks the signature over the raw
 * body and the timestamp (when an encrypt key is set) and the verification token, then hands the event to the
 * SDK's EventDispatcher (which decrypts it) and answers once the handler has enqueued it. Anything forged, stale
 * or unauthenticated gets 401 and reaches no handler.
 */
export async function startWebhookServer(options: WebhookOptions): Promise<WebhookServer> {
  const cipher = options.encryptKey === undefined ? undefined : new AESCipher(options.encryptKey);
  const skew = options.maxClockSkewSeconds ?? 300;
  const refuse = (response: ServerResponse, reason: string) => {
    options.logger.warn({ reason }, 'Lark webhook request refused');
    answer(response, 401, { code: 401, msg: 'unauthorized' });
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (path !== webhookPath) return answer(response, 404, { msg: 'not found' });
    if (request.method !== 'POST') return answer(response, 405, { msg: 'POST only' });
    const raw = await readBody(request);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return answer(response, 400, { msg: 'not JSON' });
    }
    let inner = body;
    if (typeof body['encrypt'] === 'string') {
      if (cipher === undefined) return refuse(response, 'encrypted event but LARK_ENCRYPT_KEY is unset');
      try {
        inner = JSON.parse(cipher.decrypt(body['encrypt'])) as Record<string, unknown>;
      } catch {
        return refuse(response, 'cannot decrypt');
      }
    } else if (cipher !== undefined) {
      return refuse(response, 'plaintext event while LARK_ENCRYPT_KEY is set');
    }
    const token = (inner['header'] as { token?: unknown } | undefined)?.token ?? inner['token'];
    if (options.verificationToken !== undefined && !sameText(String(token ?? ''), options.verificationToken)) {
      return refuse(response, 'wrong verification token');
    }
    if (inner['type'] === 'url_verification') return answer(response, 200, { challenge: inner['challenge'] });

    if (options.encryptKey !== undefined) {
      const timestamp = String(request.headers['x-lark-request-timestamp'] ?? '');
      const nonce = String(request.headers['x-lark-request-nonce'] ?? '');
      const signature = String(request.headers['x-lark-signature'] ?? '');
      if (!sameText(signature, larkSignature(timestamp, nonce, options.encryptKey, raw))) {
        return refuse(response, 'bad signature');
      }
      const seconds = Number(timestamp);
      if (!Number.isFinite(seconds) || Math.abs(Date.now() / 1000 - seconds) > skew) {
        return refuse(response, 'stale timestamp');
      }
    }
    // Verified above on the raw bytes (the SDK's own check re-serializes the parsed JSON), so it is not repeated.
    const data = Object.assign(Object.create({ headers: request.headers }) as object, body);
    await options.dispatcher.invoke(data, { needCheck: false });
    answer(response, 200, { code: 0 });
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // Not enqueued (Redis down…): a 500 makes Lark deliver the event again later.
      options.logger.error({ error: String(error) }, 'Lark webhook event failed');
      if (!response.headersSent) answer(response, 500, { msg: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${webhookPath}`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
