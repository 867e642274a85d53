import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeFrame, encodeFrame, type Frame, headerOf } from './frames.ts';
import type { MessageEvent } from './lark-events.ts';

/** A message the bot sent (reply or create). */
export interface SentMessage {
  messageId: string;
  chatId: string;
  replyTo?: string;
  msgType: string;
  content: string;
  uuid?: string;
  replyInThread?: boolean;
  at: number;
}

/** A CardKit card entity and what happened to it. */
export interface FakeCard {
  cardId: string;
  card: {
    config?: { streaming_mode?: boolean };
    body?: { elements?: Array<{ element_id?: string; content?: string }> };
  };
  content: string;
  streaming: boolean;
  /** Every accepted update (element content and settings), in arrival order. */
  updates: Array<{ kind: 'content' | 'settings'; sequence: number; content?: string; at: number }>;
  /** Updates refused (sequence not increasing, streaming closed). */
  refused: Array<{ sequence: number; reason: string }>;
}

/** A failure to inject into matching API calls. */
export interface Injection {
  method: string;
  path: RegExp;
  status: number;
  body: unknown;
  /** How many calls fail. */
  times: number;
  /** Carry the call out first, then fail the answer (the response was "lost"). */
  afterCommit?: boolean;
  /** Never answer (before or, with `afterCommit`, after carrying the call out): the client's timeout ends it. */
  hang?: boolean;
}

/** A call the fake received. */
export interface ApiCall {
  method: string;
  path: string;
  status: number;
  at: number;
}

/** Options of the fake. */
export interface FakeOpenPlatformOptions {
  appId: string;
  appSecret: string;
  botOpenId: string;
  /** The app has the CardKit permission. @defaultValue true */
  cardPermission?: boolean;
}

interface PushedEvent {
  frameMessageId: string;
  payload: string;
  pushes: number;
  acked: boolean;
  ackCodes: number[];
  /** When it was last pushed and when the first code-200 ack came (ms since the epoch). */
  pushedAt: number;
  ackedAt?: number;
  /** The connection it was last pushed on (none yet: it waits for one). */
  socket?: WebSocket;
}

/** The long connection's `ClientConfig` (seconds), sent with the endpoint and every pong. */
export interface LongConnectionClientConfig {
  PingInterval: number;
  ReconnectCount: number;
  ReconnectInterval: number;
  ReconnectNonce: number;
}

/**
 * A local Lark open platform for the real SDK (`domain: fake.url`): tenant token, bot info, message get/reply/create,
 * resource download, CardKit cards, the long-connection endpoint and its WebSocket speaking `pbbp2.Frame` protobuf
 * (events pushed to one random client, acks read, unacked events re-pushed), plus 429/5xx injection.
 */
export class FakeOpenPlatform {
  readonly sent: SentMessage[] = [];
  readonly cards = new Map<string, FakeCard>();
  readonly calls: ApiCall[] = [];
  readonly downloads: Array<{ messageId: string; fileKey: string; type: string }> = [];
  readonly injections: Injection[] = [];
  readonly pushed = new Map<string, PushedEvent>();
  cardPermission: boolean;
  /** Long connections ever opened (reconnects included). */
  connectionsOpened = 0;
  /** While true, acks are recorded but lost: the events stay unacknowledged (see {@link redeliverUnacked}). */
  loseAcks = false;
  /** What the endpoint and pongs tell the SDK (the platform's settings). */
  clientConfig: LongConnectionClientConfig = {
    PingInterval: 120,
    ReconnectCount: -1,
    ReconnectInterval: 1,
    ReconnectNonce: 0,
  };
  /** The next endpoint requests answer these codes, one each (`1` "system busy", `1000040350` the connection limit). */
  readonly endpointFailures: Array<{ code: number; msg: string }> = [];
  /** This many next WebSocket upgrades are refused with HTTP 503. */
  refuseUpgrades = 0;
  /** Upgrades refused so far. */
  upgradesRefused = 0;
  /** Endpoint requests answered with a failure code so far. */
  endpointFailuresAnswered = 0;
  /**
   * A new connection gets, shortly after it opens, every unacknowledged event whose connection is gone or silent (or
   * that was pushed while none was open), as Lark re-pushes after a reconnect.
   */
  redeliverOnConnect = true;
  private readonly silent = new WeakSet<WebSocket>();
  /** A new connection's redelivery is due: newer events wait behind the lost ones, as in one queue. */
  private redeliveryDue = false;
  private slowdown: { path: RegExp; delayMs: number } | undefined;
  private readonly tokens = new Set<string>();
  private readonly resources = new Map<string, Buffer>();
  private readonly userMessages = new Map<string, { msgType: string; content: string }>();
  private readonly sockets: WebSocket[] = [];
  private readonly byUuid = new Map<string, SentMessage>();
  private server: Server | undefined;
  private wsServer: WebSocketServer | undefined;
  private seq = 0;
  private counter = 0;
  url = '';

  constructor(readonly options: FakeOpenPlatformOptions) {
    this.cardPermission = options.cardPermission ?? true;
  }

  /** Starts listening on a random local port (or `port`). */
  async start(port = 0): Promise<this> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.json(response, 500, { code: 1, msg: String(error) });
      });
    });
    this.wsServer = new WebSocketServer({
      server: this.server,
      path: '/ws',
      verifyClient: (_info, callback) => {
        if (this.refuseUpgrades <= 0) return callback(true);
        this.refuseUpgrades -= 1;
        this.upgradesRefused += 1;
        callback(false, 503, 'Service Unavailable');
      },
    });
    this.wsServer.on('connection', (socket) => {
      this.connectionsOpened += 1;
      this.sockets.push(socket);
      socket.on('message', (data) => this.onFrame(socket, data as Buffer));
      socket.on('close', () => this.sockets.splice(this.sockets.indexOf(socket), 1));
      if (this.redeliverOnConnect) {
        this.redeliveryDue = true;
        setTimeout(() => this.redeliverLost(), 100);
      }
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    this.wsServer?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Long connections currently open and answering (a silent one does not count). */
  get connections(): number {
    return this.sockets.filter((socket) => !this.silent.has(socket)).length;
  }

  /** The open connections go silent: still open, but no pong and no event reaches them (a half-open connection). */
  silence(): void {
    for (const socket of this.sockets) this.silent.add(socket);
  }

  /** Events not acknowledged with code 200 yet. */
  unacked(): number {
    return [...this.pushed.values()].filter((pushed) => !pushed.acked).length;
  }

  private isLive(socket: WebSocket | undefined): socket is WebSocket {
    return socket !== undefined && socket.readyState === socket.OPEN && !this.silent.has(socket);
  }

  /** Re-pushes, in push order, the unacknowledged events whose connection is gone or silent (or that had none). */
  private redeliverLost(): void {
    if (!this.sockets.some((socket) => this.isLive(socket))) return;
    this.redeliveryDue = false;
    for (const pushed of this.pushed.values()) {
      if (!pushed.acked && !this.isLive(pushed.socket)) this.push(pushed);
    }
  }

  /** Drops every long connection (a server restart); the SDK reconnects by itself. */
  dropConnections(): void {
    for (const socket of [...this.sockets]) socket.terminate();
  }

  /** Answers every API call whose path matches `delayMs` late (a slow platform); `undefined` ends the slowdown. */
  slowDown(rule: { path: RegExp; delayMs: number } | undefined): void {
    this.slowdown = rule;
  }

  /** Makes an image downloadable as a resource of a message. */
  addResource(messageId: string, fileKey: string, bytes: Buffer): void {
    this.resources.set(`${messageId}/${fileKey}`, bytes);
  }

  /** Registers a user message (for `GET /im/v1/messages/:id`, used for quoted pictures). */
  addUserMessage(event: MessageEvent): void {
    this.userMessages.set(event.event.message.message_id, {
      msgType: event.event.message.message_type,
      content: event.event.message.content,
    });
  }

  /**
   * Pushes an event over the long connection to one random client (like Lark's cluster mode); returns its id. With no
   * connection open, or while a new connection's redelivery is due, it waits for that (see {@link redeliverOnConnect}).
   */
  pushEvent(event: MessageEvent, socketIndex?: number): string {
    this.addUserMessage(event);
    const frameMessageId = `evt-${randomBytes(6).toString('hex')}`;
    const pushed: PushedEvent = {
      frameMessageId,
      payload: JSON.stringify(event),
      pushes: 0,
      acked: false,
      ackCodes: [],
      pushedAt: Date.now(),
    };
    this.pushed.set(frameMessageId, pushed);
    const noConnection = !this.sockets.some((socket) => this.isLive(socket));
    if (socketIndex === undefined && this.redeliverOnConnect && (noConnection || this.redeliveryDue)) {
      return frameMessageId; // pushed, in order, with the next redelivery
    }
    this.push(pushed, socketIndex);
    return frameMessageId;
  }

  /** Re-pushes every event not acknowledged with code 200 (Lark's redelivery); returns how many. */
  redeliverUnacked(): number {
    let count = 0;
    for (const pushed of this.pushed.values()) {
      if (!pushed.acked) {
        this.push(pushed);
        count += 1;
      }
    }
    return count;
  }

  /** Pushes the same event again (a redelivery, e.g. after the ack was lost). */
  repush(frameMessageId: string, socketIndex?: number): void {
    const pushed = this.pushed.get(frameMessageId);
    if (pushed !== undefined) this.push(pushed, socketIndex);
  }

  private push(pushed: PushedEvent, socketIndex?: number): void {
    const open = this.sockets.filter((socket) => this.isLive(socket));
    const socket = socketIndex === undefined ? open[Math.floor(Math.random() * open.length)] : open[socketIndex];
    if (socket === undefined) throw new Error('no long connection is open');
    this.seq += 1;
    pushed.pushes += 1;
    pushed.pushedAt = Date.now();
    pushed.socket = socket;
    const frame: Frame = {
      SeqID: this.seq,
      LogID: this.seq,
      service: 1,
      method: 1,
      headers: [
        { key: 'type', value: 'event' },
        { key: 'message_id', value: pushed.frameMessageId },
        { key: 'sum', value: '1' },
        { key: 'seq', value: '0' },
        { key: 'trace_id', value: `trace-${this.seq}` },
      ],
      payload: new TextEncoder().encode(pushed.payload),
    };
    socket.send(encodeFrame(frame));
  }

  private onFrame(socket: WebSocket, data: Buffer): void {
    const frame = decodeFrame(data);
    if (this.silent.has(socket)) return;
    if (frame.method === 0 && headerOf(frame, 'type') === 'ping') {
      const pong: Frame = {
        ...frame,
        headers: [{ key: 'type', value: 'pong' }],
        payload: new TextEncoder().encode(JSON.stringify(this.clientConfig)),
      };
      socket.send(encodeFrame(pong));
      return;
    }
    if (frame.method === 1) {
      const pushed = this.pushed.get(headerOf(frame, 'message_id') ?? '');
      if (pushed === undefined || headerOf(frame, 'biz_rt') === undefined) return;
      const code = (JSON.parse(new TextDecoder().decode(frame.payload)) as { code: number }).code;
      pushed.ackCodes.push(code);
      if (code === 200 && !pushed.acked && !this.loseAcks) {
        pushed.acked = true;
        pushed.ackedAt = Date.now();
      }
    }
  }

  /** Waits until `predicate` holds (polling). */
  async waitFor(predicate: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`fake Lark: timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Messages the bot sent in reply to a message. */
  repliesTo(messageId: string): SentMessage[] {
    return this.sent.filter((message) => message.replyTo === messageId);
  }

  private json(response: ServerResponse, status: number, body: unknown): void {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  private async readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const record = (status: number) => this.calls.push({ method, path, status, at: Date.now() });
    const body = method === 'GET' ? {} : await this.readJson(request);

    if (path === '/open-apis/auth/v3/tenant_access_token/internal') {
      if (body['app_id'] !== this.options.appId || body['app_secret'] !== this.options.appSecret) {
        record(200);
        return this.json(response, 200, { code: 10014, msg: 'app secret invalid' });
      }
      const token = `t-${randomBytes(8).toString('hex')}`;
      this.tokens.add(token);
      record(200);
      return this.json(response, 200, { code: 0, msg: 'ok', tenant_access_token: token, expire: 7200 });
    }
    if (path === '/callback/ws/endpoint') {
      record(200);
      if (body['AppID'] !== this.options.appId || body['AppSecret'] !== this.options.appSecret) {
        return this.json(response, 200, { code: 514, msg: 'auth failed', data: {} });
      }
      const failure = this.endpointFailures.shift();
      if (failure !== undefined) {
        this.endpointFailuresAnswered += 1;
        return this.json(response, 200, { code: failure.code, msg: failure.msg, data: {} });
      }
      this.counter += 1;
      const port = new URL(this.url).port;
      return this.json(response, 200, {
        code: 0,
        data: {
          URL: `ws://127.0.0.1:${port}/ws?device_id=device-${this.counter}&service_id=1`,
          ClientConfig: this.clientConfig,
        },
      });
    }
    const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!this.tokens.has(token)) {
      record(401);
      return this.json(response, 401, { code: 99991663, msg: 'invalid tenant_access_token' });
    }
    const injection = this.injections.find(
      (candidate) => candidate.times > 0 && candidate.method === method && candidate.path.test(path),
    );
    const slowdown = this.slowdown;
    if (slowdown?.path.test(path)) {
      await new Promise((resolve) => setTimeout(resolve, slowdown.delayMs));
    }
    if (injection !== undefined) {
      injection.times -= 1;
      if (injection.hang && !injection.afterCommit) return; // no answer: the client's timeout ends it
      if (!injection.afterCommit) {
        record(injection.status);
        return this.json(response, injection.status, injection.body);
      }
    }
    const [status, result] = this.route(method, path, url, body);
    if (injection?.afterCommit) {
      if (injection.hang) return;
      record(injection.status);
      return this.json(response, injection.status, injection.body);
    }
    record(status);
    if (Buffer.isBuffer(result)) {
      response.writeHead(status, { 'content-type': 'image/png', 'content-length': result.byteLength });
      response.end(result);
      return;
    }
    this.json(response, status, result);
  }

  private route(method: string, path: string, url: URL, body: Record<string, unknown>): [number, unknown] {
    const ok = (data: unknown) => [200, { code: 0, msg: 'success', data }] as [number, unknown];
    const resourcePath = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/resources\/([^/]+)$/.exec(path);
    const messagePath = /^\/open-apis\/im\/v1\/messages\/([^/]+)$/.exec(path);
    const replyPath = /^\/open-apis\/im\/v1\/messages\/([^/]+)\/reply$/.exec(path);
    const cardPath = /^\/open-apis\/cardkit\/v1\/cards\/([^/]+)(\/.*)$/.exec(path);
    if (method === 'GET' && path === '/open-apis/bot/v3/info') {
      return [
        200,
        { code: 0, msg: 'ok', bot: { open_id: this.options.botOpenId, app_name: 'Ziya', activate_status: 2 } },
      ];
    }
    if (method === 'GET' && resourcePath !== null) {
      const [, messageId = '', fileKey = ''] = resourcePath;
      this.downloads.push({ messageId, fileKey, type: url.searchParams.get('type') ?? '' });
      const bytes = this.resources.get(`${messageId}/${fileKey}`);
      if (bytes === undefined || url.searchParams.get('type') !== 'image') {
        return [400, { code: 234003, msg: 'File not in msg.' }];
      }
      return [200, bytes];
    }
    if (method === 'GET' && messagePath !== null) {
      const stored = this.userMessages.get(messagePath[1] ?? '');
      if (stored === undefined) return [400, { code: 230001, msg: 'message not found' }];
      return ok({
        items: [{ message_id: messagePath[1], msg_type: stored.msgType, body: { content: stored.content } }],
      });
    }
    if (method === 'POST' && replyPath !== null) {
      const sent = this.send({ replyTo: replyPath[1] ?? '', chatId: '', body });
      return ok({ message_id: sent.messageId, msg_type: sent.msgType });
    }
    if (method === 'POST' && path === '/open-apis/im/v1/messages') {
      const sent = this.send({ chatId: String(body['receive_id'] ?? ''), body });
      return ok({ message_id: sent.messageId, msg_type: sent.msgType });
    }
    if (method === 'POST' && path === '/open-apis/cardkit/v1/cards') {
      if (!this.cardPermission) {
        return [
          400,
          { code: 99991672, msg: 'Access denied. One of the following scopes is required: [cardkit:card:write]' },
        ];
      }
      const card = JSON.parse(String(body['data'] ?? '{}')) as FakeCard['card'];
      const cardId = `card_${randomBytes(6).toString('hex')}`;
      this.cards.set(cardId, {
        cardId,
        card,
        content: card.body?.elements?.[0]?.content ?? '',
        streaming: card.config?.streaming_mode === true,
        updates: [],
        refused: [],
      });
      return ok({ card_id: cardId });
    }
    if (cardPath !== null) {
      const card = this.cards.get(cardPath[1] ?? '');
      if (card === undefined) return [400, { code: 300302, msg: 'card not found' }];
      const sequence = Number(body['sequence']);
      const last = card.updates.at(-1)?.sequence ?? 0;
      const refuse = (code: number, reason: string): [number, unknown] => {
        card.refused.push({ sequence, reason });
        return [400, { code, msg: reason }];
      };
      if (!(sequence > last)) return refuse(300317, `sequence ${sequence} is not above ${last}`);
      if (method === 'PUT' && /^\/elements\/[^/]+\/content$/.test(cardPath[2] ?? '')) {
        if (!card.streaming) return refuse(300309, 'streaming mode is closed');
        card.content = String(body['content'] ?? '');
        card.updates.push({ kind: 'content', sequence, content: card.content, at: Date.now() });
        return ok({});
      }
      if (method === 'PATCH' && cardPath[2] === '/settings') {
        const settings = JSON.parse(String(body['settings'] ?? '{}')) as { config?: { streaming_mode?: boolean } };
        if (settings.config?.streaming_mode === false) card.streaming = false;
        card.updates.push({ kind: 'settings', sequence, at: Date.now() });
        return ok({});
      }
    }
    return [404, { code: 404, msg: `no route ${method} ${path}` }];
  }

  private send(input: { replyTo?: string; chatId: string; body: Record<string, unknown> }): SentMessage {
    const uuid = typeof input.body['uuid'] === 'string' ? input.body['uuid'] : undefined;
    if (uuid !== undefined) {
      const existing = this.byUuid.get(uuid);
      if (existing !== undefined) return existing; // Lark's idempotent send
    }
    this.counter += 1;
    const message: SentMessage = {
      messageId: `om_bot_${this.counter}`,
      chatId: input.chatId,
      ...(input.replyTo === undefined ? {} : { replyTo: input.replyTo }),
      msgType: String(input.body['msg_type'] ?? ''),
      content: String(input.body['content'] ?? ''),
      ...(uuid === undefined ? {} : { uuid }),
      ...(input.body['reply_in_thread'] === true ? { replyInThread: true } : {}),
      at: Date.now(),
    };
    this.sent.push(message);
    if (uuid !== undefined) this.byUuid.set(uuid, message);
    return message;
  }
}
