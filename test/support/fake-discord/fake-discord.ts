import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/** A Discord user object as the API sends it. */
export interface FakeUser {
  id: string;
  username: string;
  bot?: boolean;
}

/** A channel of a fake guild (type 0 text, 11 public thread). */
export interface FakeChannel {
  id: string;
  name: string;
  type: 0 | 11;
  parentId?: string;
}

/** A guild the fake gateway sends in GUILD_CREATE. */
export interface FakeGuild {
  id: string;
  name: string;
  preferredLocale: string;
  channels: FakeChannel[];
  roles?: string[];
}

/** A message the bot created through REST (with its edit history). */
export interface PostedMessage {
  id: string;
  channelId: string;
  content: string;
  nonce?: string | undefined;
  body: Record<string, unknown>;
  edits: Array<{ at: number; content: string }>;
  createdAt: number;
  deleted: boolean;
  /** `message` for channel messages, `original`/`followup` for interaction responses. */
  via: 'message' | 'original' | 'followup';
  interactionToken?: string;
}

/** A recorded REST request. */
export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  at: number;
  /** The status answered; 0 for a request left hanging. */
  status: number;
}

/** A scripted failure for the next matching REST (or attachment) request(s). */
export interface FaultRule {
  method: string;
  /** Matched against the REST route (after `/api/v10`), or the whole path for `/attachments/…`. */
  path: RegExp;
  /** The answer, or `hang`: no answer at all, the connection left open until the client gives up. */
  status: 429 | 500 | 502 | 503 | 'hang';
  /** How many matching requests fail. @defaultValue 1 */
  times?: number;
  /** Perform the request, then answer with the failure (a lost response). @defaultValue false */
  afterProcessing?: boolean;
  /** `retry_after` in seconds for 429. @defaultValue 0.3 */
  retryAfter?: number;
}

interface GatewaySession {
  id: string;
  sequence: number;
  log: Array<{ s: number; t: string; d: unknown }>;
  socket?: WebSocket | undefined;
  /** When its connection closed (ms), while no other has taken it over. */
  closedAt?: number | undefined;
  /** The shard it was identified for: `[id, count]`. */
  shard: [number, number];
}

const permissionsAll = '8';

/** Discord's shard of a guild (`(guild_id >> 22) % shards`); DMs (no guild) go to shard 0. */
function shardOf(guildId: unknown, shardCount: number): number {
  if (typeof guildId !== 'string' || !/^\d+$/.test(guildId)) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

function snowflakeGenerator(): () => string {
  let counter = 0n;
  const base = (BigInt(Date.now() - 1_420_070_400_000) << 22n) + BigInt(randomBytes(2).readUInt16BE(0));
  return () => {
    counter += 1n;
    return (base + (counter << 12n)).toString();
  };
}

function userObject(user: FakeUser): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    discriminator: '0',
    global_name: user.username,
    avatar: null,
    bot: user.bot ?? false,
    public_flags: 0,
  };
}

/**
 * A local Discord for tests: the REST API under `/api/v10` and the gateway (JSON text frames, v10) on the same
 * port, speaking the protocol discord.js expects: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME with
 * replay, dispatches with increasing `s`; message create/edit/delete with `nonce` + `enforce_nonce`, typing,
 * application commands, interaction callbacks and webhook edits; attachment bytes under `/attachments/`; scripted
 * 429 (with real rate-limit headers) and 5xx answers.
 */
export class FakeDiscord {
  readonly botUser: FakeUser;
  readonly applicationId: string;
  readonly token: string;
  readonly requests: RecordedRequest[] = [];
  readonly messages: PostedMessage[] = [];
  readonly commands: unknown[] = [];
  readonly interactionCallbacks: Array<{ id: string; token: string; body: unknown; at: number }> = [];
  readonly typing: Array<{ channelId: string; at: number }> = [];
  readonly identifies: unknown[] = [];
  readonly resumes: unknown[] = [];
  /** RESUMEs answered with INVALID_SESSION (unknown or too old a session). */
  invalidSessions = 0;
  readonly nextId = snowflakeGenerator();
  private readonly server: Server;
  private readonly gateway: WebSocketServer;
  private readonly files = new Map<string, { bytes: Uint8Array; contentType: string; redirect?: string }>();
  private readonly faults: FaultRule[] = [];
  private slowdown: { path: RegExp; delayMs: number } | undefined;
  private readonly sessions = new Map<string, GatewaySession>();
  private current: GatewaySession | undefined;
  private readonly guilds: FakeGuild[];
  private readonly waiters = new Set<() => void>();
  private readonly interactionChannels = new Map<string, string>();
  private port = 0;
  /** Closes every IDENTIFY with 4004 (a token the REST API took but the gateway refuses). */
  gatewayRejectsToken = false;

  constructor(options: { guilds: FakeGuild[]; token?: string }) {
    this.guilds = options.guilds;
    this.token = options.token ?? 'fake-token-0123456789';
    this.applicationId = this.nextId();
    this.botUser = { id: this.applicationId, username: 'ziya', bot: true };
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ message: String(error), code: 0 }));
      });
    });
    this.gateway = new WebSocketServer({ server: this.server });
    this.gateway.on('connection', (socket) => this.onConnection(socket));
  }

  /** Starts listening on a random local port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The origin, e.g. `http://127.0.0.1:1234`. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The REST base to give discord.js (`rest.api`) and `DISCORD_API_URL`. */
  get apiUrl(): string {
    return `${this.origin}/api`;
  }

  /** Serves `bytes` at `/attachments/<name>` and returns its URL (optionally as a redirect elsewhere). */
  serveFile(name: string, bytes: Uint8Array, contentType = 'image/png', redirect?: string): string {
    this.files.set(`/attachments/${name}`, { bytes, contentType, ...(redirect === undefined ? {} : { redirect }) });
    return `${this.origin}/attachments/${name}`;
  }

  /** Makes the next matching REST or attachment request(s) fail. */
  fail(rule: FaultRule): void {
    this.faults.push({ ...rule });
  }

  /** How many scripted failures have not happened yet. */
  get faultsLeft(): number {
    return this.faults.reduce((sum, fault) => sum + (fault.times ?? 1), 0);
  }

  /** Answers every REST request whose path matches `delayMs` late (a slow platform); `undefined` ends the slowdown. */
  slowDown(rule: { path: RegExp; delayMs: number } | undefined): void {
    this.slowdown = rule;
  }

  /** Takes the first fault rule matching the request (counting down its `times`). */
  private takeFault(method: string, route: string): FaultRule | undefined {
    const faultIndex = this.faults.findIndex((fault) => fault.method === method && fault.path.test(route));
    const fault = faultIndex === -1 ? undefined : this.faults[faultIndex];
    if (fault !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(faultIndex, 1);
    }
    return fault;
  }

  /**
   * Sends an event to every session, as Discord does (each with its own sequence; kept in its log for RESUME
   * replay, also while its connection is closed); returns its sequence in the current session.
   */
  dispatch(type: string, data: unknown): number {
    const current = this.current;
    if (current === undefined) throw new Error('FakeDiscord: no gateway session');
    const guildId = (data as { guild_id?: unknown } | null)?.guild_id;
    for (const session of this.sessions.values())
      if (shardOf(guildId, session.shard[1]) === session.shard[0]) this.dispatchTo(session, type, data);
    return current.sequence;
  }

  /** Shards `GET /gateway/bot` recommends. @defaultValue 1 */
  recommendedShards = 1;

  /** Called when a client asks `GET /gateway/bot`: as it logs in, before its IDENTIFY. */
  onGatewayBot: (() => void) | undefined;

  private dispatchTo(session: GatewaySession, type: string, data: unknown): number {
    session.sequence += 1;
    const event = { s: session.sequence, t: type, d: data };
    session.log.push(event);
    if (session.socket !== undefined && session.socket.readyState === session.socket.OPEN) {
      session.socket.send(JSON.stringify({ op: 0, ...event }));
    }
    return session.sequence;
  }

  /**
   * How long after its connection closed a session can still be resumed; later, RESUME gets INVALID_SESSION (the
   * session is too old). @defaultValue no limit
   */
  resumeWindowMs = Number.POSITIVE_INFINITY;

  /** Sends an event of the current session again, with a new sequence number (an at-least-once redelivery). */
  redispatch(sequence: number): number {
    const event = this.current?.log.find((candidate) => candidate.s === sequence);
    if (event === undefined) throw new Error(`FakeDiscord: no event ${sequence}`);
    return this.dispatch(event.t, event.d);
  }

  /** Closes the gateway connection with `code` (4000 = unknown error: the client resumes). */
  dropConnection(code = 4000): void {
    this.current?.socket?.close(code, 'fake drop');
  }

  /** Re-sends an already delivered event on the next RESUME too (at-least-once delivery). */
  replayOnResume(sequence: number): void {
    this.replayFrom = Math.min(this.replayFrom ?? sequence, sequence);
  }
  private replayFrom: number | undefined;

  /** A guild channel MESSAGE_CREATE from `author`; returns the message id. */
  sendMessage(options: {
    channelId: string;
    guildId?: string | undefined;
    author: FakeUser;
    content: string;
    mentions?: FakeUser[];
    attachments?: Array<{ url: string; filename: string; contentType?: string; size: number; width?: number }>;
    embeds?: unknown[];
    replyTo?: PostedMessage | { id: string; channelId: string; author: FakeUser; content: string };
    roles?: string[];
    id?: string;
  }): string {
    const id = options.id ?? this.nextId();
    this.dispatch('MESSAGE_CREATE', this.messagePayload(id, options));
    return id;
  }

  /** The MESSAGE_CREATE payload of a user message. */
  messagePayload(id: string, options: Parameters<FakeDiscord['sendMessage']>[0]): Record<string, unknown> {
    const reply = options.replyTo;
    const referenced =
      reply === undefined
        ? undefined
        : 'via' in reply
          ? this.botMessageObject(reply)
          : {
              ...this.baseMessage(reply.id, reply.channelId, options.guildId, reply.author, reply.content),
            };
    const channel = this.guilds
      .flatMap((guild) => guild.channels)
      .find((candidate) => candidate.id === options.channelId);
    return {
      ...this.baseMessage(id, options.channelId, options.guildId, options.author, options.content),
      channel_type: options.guildId === undefined ? 1 : (channel?.type ?? 0),
      ...(options.guildId === undefined
        ? {}
        : {
            member: {
              roles: options.roles ?? [],
              joined_at: new Date().toISOString(),
              deaf: false,
              mute: false,
              flags: 0,
            },
          }),
      mentions: (options.mentions ?? []).map(userObject),
      attachments: (options.attachments ?? []).map((attachment) => ({
        id: this.nextId(),
        filename: attachment.filename,
        size: attachment.size,
        url: attachment.url,
        proxy_url: attachment.url,
        ...(attachment.contentType === undefined ? {} : { content_type: attachment.contentType }),
        width: attachment.width ?? 64,
        height: 48,
      })),
      embeds: options.embeds ?? [],
      type: reply === undefined ? 0 : 19,
      ...(reply === undefined
        ? {}
        : {
            message_reference: {
              type: 0,
              message_id: reply.id,
              channel_id: reply.channelId,
              ...(options.guildId === undefined ? {} : { guild_id: options.guildId }),
            },
            referenced_message: referenced,
          }),
    };
  }

  /** An INTERACTION_CREATE for a chat-input command; returns the interaction id and token. */
  sendCommand(options: {
    name: string;
    channelId: string;
    guildId?: string;
    user: FakeUser;
    locale: string;
    options?: Array<{ name: string; type: number; value: string }>;
    attachment?: { url: string; filename: string; contentType: string; size: number };
  }): { id: string; token: string; sequence: number } {
    const id = this.nextId();
    const token = `itoken-${randomBytes(8).toString('hex')}`;
    this.interactionChannels.set(token, options.channelId);
    const attachmentId = this.nextId();
    const commandOptions = [...(options.options ?? [])];
    if (options.attachment !== undefined) commandOptions.push({ name: 'image', type: 11, value: attachmentId });
    const guild = this.guilds.find((candidate) => candidate.id === options.guildId);
    const sequence = this.dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.applicationId,
      type: 2,
      token,
      version: 1,
      locale: options.locale,
      ...(guild === undefined ? {} : { guild_locale: guild.preferredLocale, guild_id: guild.id }),
      channel_id: options.channelId,
      channel: { id: options.channelId, type: guild === undefined ? 1 : 0, ...(guild ? { guild_id: guild.id } : {}) },
      ...(guild === undefined
        ? { user: userObject(options.user) }
        : {
            member: {
              user: userObject(options.user),
              roles: [],
              permissions: permissionsAll,
              joined_at: new Date().toISOString(),
              deaf: false,
              mute: false,
              flags: 0,
            },
          }),
      app_permissions: permissionsAll,
      entitlements: [],
      authorizing_integration_owners: {},
      context: guild === undefined ? 1 : 0,
      data: {
        id: `cmd-${options.name}`,
        name: options.name,
        type: 1,
        options: commandOptions,
        ...(options.attachment === undefined
          ? {}
          : {
              resolved: {
                attachments: {
                  [attachmentId]: {
                    id: attachmentId,
                    filename: options.attachment.filename,
                    size: options.attachment.size,
                    url: options.attachment.url,
                    proxy_url: options.attachment.url,
                    content_type: options.attachment.contentType,
                    width: 64,
                    height: 48,
                  },
                },
              },
            }),
      },
    });
    return { id, token, sequence };
  }

  /** Messages the bot posted in a channel (not deleted), oldest first. */
  postedIn(channelId: string): PostedMessage[] {
    return this.messages.filter((message) => message.channelId === channelId && !message.deleted);
  }

  /** Waits until `predicate` holds (re-checked on every REST request and every 50 ms). */
  async waitFor(predicate: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`FakeDiscord: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.waiters.delete(wake);
          resolve();
        }, 50);
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
      });
    }
  }

  /** Stops the servers. */
  async close(): Promise<void> {
    for (const client of this.gateway.clients) client.terminate();
    this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private baseMessage(
    id: string,
    channelId: string,
    guildId: string | undefined,
    author: FakeUser,
    content: string,
  ): Record<string, unknown> {
    return {
      id,
      channel_id: channelId,
      ...(guildId === undefined ? {} : { guild_id: guildId }),
      author: userObject(author),
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type: 0,
      flags: 0,
      components: [],
    };
  }

  private botMessageObject(message: PostedMessage): Record<string, unknown> {
    const guild = this.guilds.find((candidate) =>
      candidate.channels.some((channel) => channel.id === message.channelId),
    );
    return {
      ...this.baseMessage(message.id, message.channelId, guild?.id, this.botUser, message.content),
      ...(message.nonce === undefined ? {} : { nonce: message.nonce }),
    };
  }

  private onConnection(socket: WebSocket): void {
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 } }));
    socket.on('message', (raw) => {
      const payload = JSON.parse(String(raw)) as { op: number; d: Record<string, unknown> | number | null };
      if (payload.op === 1) socket.send(JSON.stringify({ op: 11 }));
      else if (payload.op === 2) this.identify(socket, payload.d as Record<string, unknown>);
      else if (payload.op === 6) this.resume(socket, payload.d as Record<string, unknown>);
    });
    socket.on('close', (code) => {
      for (const [id, session] of this.sessions) {
        if (session.socket !== socket) continue;
        session.socket = undefined;
        session.closedAt = Date.now();
        // A client closing with 1000 or 1001 ends its session (Discord's rule); any other code keeps it resumable.
        if (code === 1000 || code === 1001) {
          this.sessions.delete(id);
          if (this.current === session) this.current = [...this.sessions.values()].at(-1);
        }
      }
    });
  }

  private identify(socket: WebSocket, data: Record<string, unknown>): void {
    this.identifies.push({ ...data, token: '<redacted>' });
    if (this.gatewayRejectsToken || (data['token'] !== this.token && data['token'] !== `Bot ${this.token}`)) {
      socket.close(4004, 'Authentication failed.');
      return;
    }
    const [shardId = 0, shardCount = 1] = Array.isArray(data['shard']) ? (data['shard'] as number[]) : [];
    const session: GatewaySession = {
      id: randomBytes(16).toString('hex'),
      sequence: 0,
      log: [],
      socket,
      shard: [shardId, shardCount],
    };
    this.sessions.set(session.id, session);
    this.current = session;
    const guilds = this.guilds.filter((guild) => shardOf(guild.id, shardCount) === shardId);
    this.dispatchTo(session, 'READY', {
      v: 10,
      user: { ...userObject(this.botUser), verified: true, mfa_enabled: false, flags: 0 },
      guilds: guilds.map((guild) => ({ id: guild.id, unavailable: true })),
      session_id: session.id,
      resume_gateway_url: `ws://127.0.0.1:${this.port}`,
      shard: [shardId, shardCount],
      application: { id: this.applicationId, flags: 0 },
      private_channels: [],
      relationships: [],
      presences: [],
      geo_ordered_rtc_regions: [],
      guild_join_requests: [],
      user_settings: {},
    });
    for (const guild of guilds) this.dispatchTo(session, 'GUILD_CREATE', this.guildObject(guild));
  }

  private resume(socket: WebSocket, data: Record<string, unknown>): void {
    this.resumes.push({ session_id: data['session_id'], seq: data['seq'] });
    const session = this.sessions.get(String(data['session_id']));
    const tooOld = session?.closedAt !== undefined && Date.now() - session.closedAt > this.resumeWindowMs;
    if (session === undefined || tooOld || (data['token'] !== this.token && data['token'] !== `Bot ${this.token}`)) {
      if (tooOld) this.sessions.delete(String(data['session_id']));
      this.invalidSessions += 1;
      socket.send(JSON.stringify({ op: 9, d: false }));
      return;
    }
    session.socket = socket;
    session.closedAt = undefined;
    if (this.current === undefined || !this.sessions.has(this.current.id) || this.current.socket === undefined)
      this.current = session;
    const from = Math.min(Number(data['seq']), this.replayFrom ?? Number.POSITIVE_INFINITY);
    this.replayFrom = undefined;
    for (const event of session.log) if (event.s > from) socket.send(JSON.stringify({ op: 0, ...event }));
    this.dispatchTo(session, 'RESUMED', {});
  }

  private guildObject(guild: FakeGuild): Record<string, unknown> {
    const now = new Date().toISOString();
    const role = (id: string, name: string, position: number) => ({
      id,
      name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: permissionsAll,
      managed: false,
      mentionable: false,
      flags: 0,
    });
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: '1',
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [
        role(guild.id, '@everyone', 0),
        ...(guild.roles ?? []).map((id, index) => role(id, `role-${index}`, index + 1)),
      ],
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: guild.preferredLocale,
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      joined_at: now,
      large: false,
      unavailable: false,
      member_count: 2,
      voice_states: [],
      members: [{ user: userObject(this.botUser), roles: [], joined_at: now, deaf: false, mute: false, flags: 0 }],
      channels: guild.channels
        .filter((channel) => channel.type === 0)
        .map((channel, index) => ({
          id: channel.id,
          type: 0,
          name: channel.name,
          position: index,
          permission_overwrites: [],
          parent_id: null,
          nsfw: false,
          topic: null,
          last_message_id: null,
          rate_limit_per_user: 0,
        })),
      threads: guild.channels
        .filter((channel) => channel.type === 11)
        .map((channel) => ({
          id: channel.id,
          type: 11,
          guild_id: guild.id,
          name: channel.name,
          parent_id: channel.parentId,
          owner_id: '1',
          last_message_id: null,
          rate_limit_per_user: 0,
          message_count: 0,
          member_count: 1,
          thread_metadata: {
            archived: false,
            auto_archive_duration: 1440,
            archive_timestamp: now,
            locked: false,
          },
          flags: 0,
        })),
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.origin);
    const method = request.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body: unknown =
      raw === '' ? undefined : (request.headers['content-type'] ?? '').includes('json') ? JSON.parse(raw) : raw;
    const path = decodeURIComponent(url.pathname);
    const record: RecordedRequest = { method, path, body, at: Date.now(), status: 200 };
    this.requests.push(record);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      if (json === undefined) {
        response.writeHead(status, headers);
        response.end();
      } else {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(json));
      }
      for (const wake of [...this.waiters]) wake();
    };

    if (path.startsWith('/attachments/')) {
      const fault = this.takeFault(method, path);
      if (fault?.status === 'hang') {
        record.status = 0; // no answer: the client's timeout ends it
        return;
      }
      if (fault !== undefined) return send(fault.status, { message: 'CDN failure', code: 0 });
      const file = this.files.get(path);
      if (file === undefined) return send(404, { message: 'Not Found', code: 0 });
      if (file.redirect !== undefined) return send(302, undefined, { location: file.redirect });
      record.status = 200;
      response.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.bytes.byteLength) });
      response.end(file.bytes);
      return;
    }
    if (!path.startsWith('/api/v10/')) return send(404, { message: 'Not Found', code: 0 });
    const route = path.slice('/api/v10'.length);
    const isWebhook = route.startsWith('/webhooks/') || route.startsWith('/interactions/');
    if (!isWebhook && request.headers.authorization !== `Bot ${this.token}`) {
      return send(401, { message: '401: Unauthorized', code: 0 });
    }

    const fault = this.takeFault(method, route);
    const slowdown = this.slowdown;
    if (slowdown?.path.test(route)) {
      await new Promise((resolve) => setTimeout(resolve, slowdown.delayMs));
    }
    const failWith = (rule: FaultRule) => {
      if (rule.status === 'hang') {
        record.status = 0; // no answer: the client's timeout ends it
        return;
      }
      if (rule.status === 429) {
        const retryAfter = rule.retryAfter ?? 0.3;
        return send(
          429,
          { message: 'You are being rate limited.', retry_after: retryAfter, global: false, code: 0 },
          {
            'retry-after': String(Math.ceil(retryAfter)),
            'x-ratelimit-limit': '5',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String((Date.now() + retryAfter * 1000) / 1000),
            'x-ratelimit-reset-after': String(retryAfter),
            'x-ratelimit-bucket': 'fake-bucket-messages',
            'x-ratelimit-scope': 'user',
          },
        );
      }
      return send(rule.status, { message: 'Internal Server Error', code: 0 });
    };
    if (fault !== undefined && fault.afterProcessing !== true) return failWith(fault);
    const respond = (status: number, json?: unknown) =>
      fault !== undefined
        ? failWith(fault)
        : send(status, json, {
            'x-ratelimit-bucket': 'fake',
            'x-ratelimit-limit': '50',
            'x-ratelimit-remaining': '49',
            'x-ratelimit-reset-after': '1',
          });

    let match: RegExpExecArray | null;
    if (method === 'GET' && route === '/gateway/bot') {
      this.onGatewayBot?.();
      return respond(200, {
        url: `ws://127.0.0.1:${this.port}`,
        shards: this.recommendedShards,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 16 },
      });
    }
    if (method === 'GET' && route === '/users/@me') return respond(200, userObject(this.botUser));
    match = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(route);
    if (match && method === 'PUT') {
      const definitions = (body as Array<Record<string, unknown>>) ?? [];
      const created = definitions.map((definition) => ({
        ...definition,
        id: this.nextId(),
        application_id: this.applicationId,
        version: this.nextId(),
        default_member_permissions: null,
        type: 1,
      }));
      this.commands.push(...created);
      return respond(200, created);
    }
    match = /^\/channels\/(\d+)\/typing$/.exec(route);
    if (match && method === 'POST') {
      this.typing.push({ channelId: match[1] ?? '', at: Date.now() });
      return respond(204);
    }
    match = /^\/channels\/(\d+)\/messages$/.exec(route);
    if (match && method === 'POST') {
      const data = body as Record<string, unknown>;
      const channelId = match[1] ?? '';
      const nonce = data['nonce'] === undefined ? undefined : String(data['nonce']);
      if (data['enforce_nonce'] === true && nonce !== undefined) {
        const existing = this.messages.find(
          (message) =>
            message.channelId === channelId && message.nonce === nonce && Date.now() - message.createdAt < 300_000,
        );
        if (existing !== undefined) return respond(200, this.botMessageObject(existing));
      }
      if (String(data['content'] ?? '').length > 2000) {
        return send(400, {
          message: 'Invalid Form Body',
          code: 50035,
          errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH' }] } },
        });
      }
      const message: PostedMessage = {
        id: this.nextId(),
        channelId,
        content: String(data['content'] ?? ''),
        nonce,
        body: data,
        edits: [],
        createdAt: Date.now(),
        deleted: false,
        via: 'message',
      };
      this.messages.push(message);
      return respond(200, this.botMessageObject(message));
    }
    match = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(route);
    if (match) {
      const message = this.messages.find(
        (candidate) => candidate.id === match?.[2] && candidate.channelId === match?.[1],
      );
      if (message === undefined) return send(404, { message: 'Unknown Message', code: 10008 });
      if (method === 'PATCH') {
        const content = String((body as Record<string, unknown>)['content'] ?? message.content);
        if (content.length > 2000) return send(400, { message: 'Invalid Form Body', code: 50035 });
        message.content = content;
        message.edits.push({ at: Date.now(), content });
        return respond(200, this.botMessageObject(message));
      }
      if (method === 'DELETE') {
        message.deleted = true;
        return respond(204);
      }
    }
    match = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(route);
    if (match && method === 'POST') {
      const id = match[1] ?? '';
      const token = match[2] ?? '';
      if (this.interactionCallbacks.some((callback) => callback.id === id)) {
        return send(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      }
      this.interactionCallbacks.push({ id, token, body, at: Date.now() });
      const channelId = this.interactionChannels.get(token) ?? '';
      this.messages.push({
        id: this.nextId(),
        channelId,
        content: '',
        body: body as Record<string, unknown>,
        edits: [],
        createdAt: Date.now(),
        deleted: false,
        via: 'original',
        interactionToken: token,
      });
      return respond(204);
    }
    match = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(@original|\d+)$/.exec(route);
    if (match) {
      const token = match[2] ?? '';
      const target = match[3] ?? '';
      const message = this.messages.find(
        (candidate) =>
          candidate.interactionToken === token &&
          (target === '@original' ? candidate.via === 'original' : candidate.id === target),
      );
      if (message === undefined) return send(404, { message: 'Unknown Webhook', code: 10015 });
      if (method === 'PATCH') {
        const content = String((body as Record<string, unknown>)['content'] ?? message.content);
        if (content.length > 2000) return send(400, { message: 'Invalid Form Body', code: 50035 });
        message.content = content;
        message.body = { ...message.body, ...(body as Record<string, unknown>) };
        message.edits.push({ at: Date.now(), content });
        return respond(200, this.botMessageObject(message));
      }
      if (method === 'DELETE') {
        message.deleted = true;
        return respond(204);
      }
    }
    match = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(route);
    if (match && method === 'POST') {
      const data = body as Record<string, unknown>;
      const message: PostedMessage = {
        id: this.nextId(),
        channelId: this.interactionChannels.get(match[2] ?? '') ?? '',
        content: String(data['content'] ?? ''),
        body: data,
        edits: [],
        createdAt: Date.now(),
        deleted: false,
        via: 'followup',
        interactionToken: match[2] ?? '',
      };
      this.messages.push(message);
      return respond(200, this.botMessageObject(message));
    }
    return send(404, { message: `FakeDiscord: no route for ${method} ${route}`, code: 0 });
  }
}
