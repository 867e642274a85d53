import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pageLimits } from '../../adapters/web/page-limits.ts';
import { serveStaticFile } from '../../adapters/web/static-files.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';

/** A message the scripted API received. */
export interface ReceivedMessage {
  channel: string;
  text: string;
  language: string;
  imageBytes: number;
  imageType: string;
}

/** A stand-in for the web adapter's HTTP API (adapters/web/server.ts) that answers every question with an echo. */
export interface ScriptedWebApi {
  readonly url: string;
  readonly received: ReceivedMessage[];
  readonly resets: string[];
  close(): Promise<void>;
}

interface Turn {
  requestId: string;
  role: 'user' | 'assistant';
  text: string;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

async function formData(request: IncomingMessage): Promise<FormData> {
  const body = Readable.toWeb(request) as ReadableStream<Uint8Array>;
  const headers = new Headers();
  headers.set('content-type', String(request.headers['content-type'] ?? ''));
  return new Request('http://local/', { method: 'POST', headers, body, duplex: 'half' } as RequestInit).formData();
}

/**
 * Starts the scripted API: the real page from adapters/web/public, the real catalog strings, and answers streamed as
 * three `progress` events and a `reply` ("I see a picture of N bytes. You asked: …"), or an `error`-keyed reply for a
 * question that says "fail".
 */
export async function startScriptedWebApi(): Promise<ScriptedWebApi> {
  const received: ReceivedMessage[] = [];
  const resets: string[] = [];
  const streams = new Map<string, Set<ServerResponse>>();
  const histories = new Map<string, Turn[]>();
  let counter = 0;

  const emit = (channel: string, event: string, data: unknown) => {
    for (const stream of streams.get(channel) ?? []) stream.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  const answer = (channel: string, requestId: string, message: ReceivedMessage) => {
    const history = histories.get(channel) ?? [];
    histories.set(channel, history);
    history.push({ requestId, role: 'user', text: message.text });
    if (message.text.includes('fail')) {
      setTimeout(() => {
        emit(channel, 'reply', {
          requestId,
          text: webStrings(message.language).strings['error.timeout'],
          language: 'en',
          finishReason: 'stop',
          error: 'timeout',
        });
      }, 100);
      return;
    }
    const full = `I see a picture of ${message.imageBytes} bytes. You asked: ${message.text}`;
    const pieces = [full.slice(0, 12), full.slice(0, 30), full];
    pieces.forEach((text, index) => {
      setTimeout(() => emit(channel, 'progress', { requestId, text }), 150 * (index + 1));
    });
    setTimeout(
      () => {
        history.push({ requestId, role: 'assistant', text: full });
        emit(channel, 'reply', { requestId, text: full, language: 'en', finishReason: 'stop' });
      },
      150 * (pieces.length + 1),
    );
  };

  const route = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/api/info')
      return sendJson(response, 200, {
        demo: true,
        modelId: 'scripted',
        defaultLanguage: 'en',
        limits: pageLimits({ IMAGE_MAX_BYTES: 20 * 1024 * 1024, TEXT_MAX_CHARACTERS: 4000 }),
      });
    if (path === '/api/strings') return sendJson(response, 200, webStrings(url.searchParams.get('language') ?? 'en'));
    const channelRoute = /^\/api\/channels\/([A-Za-z0-9_-]{1,64})\/(messages|events|reset|history)$/.exec(path);
    if (channelRoute !== null) {
      const channel = channelRoute[1] ?? '';
      const action = channelRoute[2];
      if (action === 'events') {
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        response.write(': hello\n\n');
        const set = streams.get(channel) ?? new Set();
        streams.set(channel, set);
        set.add(response);
        request.on('close', () => set.delete(response));
        return;
      }
      if (action === 'history') return sendJson(response, 200, { turns: histories.get(channel) ?? [] });
      if (action === 'reset') {
        resets.push(channel);
        histories.delete(channel);
        const requestId = `web-reset-${++counter}`;
        setTimeout(() => {
          emit(channel, 'reply', {
            requestId,
            text: webStrings('en').strings['reset.done'],
            language: 'en',
            finishReason: 'stop',
          });
        }, 50);
        return sendJson(response, 202, { requestId });
      }
      const form = await formData(request);
      const image = form.get('image');
      const message: ReceivedMessage = {
        channel,
        text: String(form.get('text') ?? ''),
        language: String(form.get('language') ?? ''),
        imageBytes: image instanceof Blob ? image.size : 0,
        imageType: image instanceof Blob ? image.type : '',
      };
      received.push(message);
      const requestId = `web-${channel}.${++counter}`;
      sendJson(response, 202, { requestId });
      answer(channel, requestId, message);
      return;
    }
    if (await serveStaticFile(path, response)) return;
    sendJson(response, 404, { error: 'not_found' });
  };

  const server: Server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => sendJson(response, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    resets,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
