import WebSocket from 'ws';
import type { Logger } from '../../src/observability/logger.ts';
import type { GatewaySessionStore, StoredGatewaySession } from './gateway-session-store.ts';

/** A dispatch event of a resumed session: its type, data and sequence. */
export interface CatchUpEvent {
  t: string;
  s: number;
  d: Record<string, unknown>;
}

/** How a stored session's catch-up went. */
export type CatchUpOutcome =
  | { shardId: number; resumed: true; replayed: number }
  | { shardId: number; resumed: false; reason: string; gapMs: number };

/** Options of {@link GatewayCatchUp.open}. */
export interface GatewayCatchUpOptions {
  token: string;
  store: GatewaySessionStore;
  logger: Logger;
  /** How long a RESUME may take before the session is given up. @defaultValue 15000 */
  timeoutMs?: number;
  now?: () => number;
}

const gatewayQuery = '?v=10&encoding=json';

/**
 * Resumes the gateway sessions a previous adapter process left in Redis, so Discord replays every event it sent
 * while no process was connected (a crash, a deploy), and keeps them open, collecting what they carry, until the new
 * client is ready: then {@link drain} hands everything to its handlers and the old sessions are closed.
 *
 * Why beside discord.js and not inside it: @discordjs/ws's WebSocketManager has `retrieveSessionInfo` /
 * `updateSessionInfo` hooks, but discord.js's Client sets them to its own shard objects, and a Client that RESUMEs
 * in a fresh process never gets READY: it has no user, guilds or channels, and queues every event until a READY that
 * never comes. So the new client IDENTIFYs as usual, and this takes the old session's replay.
 */
export class GatewayCatchUp {
  private readonly events: CatchUpEvent[] = [];
  private deliver: ((event: CatchUpEvent) => void) | undefined;

  private constructor(
    private readonly sockets: WebSocket[],
    readonly outcomes: CatchUpOutcome[],
  ) {}

  /** Resumes every stored session (at once); resolves when each has replayed its backlog or was refused. */
  static async open(options: GatewayCatchUpOptions): Promise<GatewayCatchUp> {
    const sessions = await options.store.loadAll();
    const sockets: WebSocket[] = [];
    const collected: CatchUpEvent[] = [];
    let catchUp: GatewayCatchUp | undefined;
    // Until this returns, events go to `collected`; then to the instance's backlog until drain() (the new client is
    // logging in meanwhile, and only the old session carries what is sent before its IDENTIFY); then to `deliver`.
    const onEvent = (event: CatchUpEvent) => {
      if (catchUp === undefined) collected.push(event);
      else if (catchUp.deliver !== undefined) catchUp.deliver(event);
      else catchUp.events.push(event);
    };
    const outcomes = await Promise.all(
      sessions.map((session) => resumeOne(session, options, onEvent, (socket) => sockets.push(socket))),
    );
    for (const outcome of outcomes) {
      const session = sessions.find((candidate) => candidate.shardId === outcome.shardId);
      if (session !== undefined) await options.store.forget(session.shardId, session.sessionId);
      if (outcome.resumed)
        options.logger.info(
          { shardId: outcome.shardId, replayed: outcome.replayed },
          'discord: resumed the previous gateway session; Discord replayed what it missed',
        );
      else
        options.logger.warn(
          { shardId: outcome.shardId, gapMs: outcome.gapMs, reason: outcome.reason },
          `discord: the previous gateway session could not be resumed (${outcome.reason}): a fresh IDENTIFY; messages sent in the last ${Math.round(outcome.gapMs / 1000)} s may never arrive`,
        );
    }
    catchUp = new GatewayCatchUp(sockets, outcomes);
    catchUp.events.push(...collected);
    return catchUp;
  }

  /**
   * Hands every event collected so far to `deliver` (in order), then every later one as it comes, until
   * {@link close}. Call once the new client's handlers are attached.
   */
  drain(deliver: (event: CatchUpEvent) => void): void {
    for (const event of this.events.splice(0)) deliver(event);
    this.deliver = deliver;
  }

  /** Closes the old sessions (the new client receives everything from now on). */
  close(): void {
    for (const socket of this.sockets) if (socket.readyState <= WebSocket.OPEN) socket.close(1000, 'resumed elsewhere');
    this.deliver = undefined;
  }
}

function resumeOne(
  session: StoredGatewaySession,
  options: GatewayCatchUpOptions,
  onEvent: (event: CatchUpEvent) => void,
  keep: (socket: WebSocket) => void,
): Promise<CatchUpOutcome> {
  const now = options.now ?? Date.now;
  const { shardId } = session;
  const refused = (reason: string): CatchUpOutcome => ({
    shardId,
    resumed: false,
    reason,
    gapMs: now() - session.savedAt,
  });
  return new Promise((resolve) => {
    let replayed = 0;
    let settled = false;
    const socket = new WebSocket(`${session.resumeUrl.replace(/\/?$/, '/')}${gatewayQuery}`);
    const finish = (outcome: CatchUpOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome.resumed) keep(socket);
      else if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
      resolve(outcome);
    };
    const timer = setTimeout(() => finish(refused('no RESUMED in time')), options.timeoutMs ?? 15_000);
    socket.on('message', (data) => {
      let payload: { op: number; t?: string; s?: number; d?: unknown };
      try {
        payload = JSON.parse(String(data)) as typeof payload;
      } catch {
        return;
      }
      if (payload.op === 10) {
        socket.send(
          JSON.stringify({ op: 6, d: { token: options.token, session_id: session.sessionId, seq: session.sequence } }),
        );
      } else if (payload.op === 1) {
        socket.send(JSON.stringify({ op: 1, d: null }));
      } else if (payload.op === 9) {
        finish(refused('Discord answered INVALID_SESSION'));
      } else if (payload.op === 0 && typeof payload.t === 'string' && typeof payload.s === 'number') {
        if (payload.t === 'RESUMED') finish({ shardId, resumed: true, replayed });
        else {
          if (!settled) replayed += 1;
          onEvent({ t: payload.t, s: payload.s, d: (payload.d ?? {}) as Record<string, unknown> });
        }
      }
    });
    socket.on('close', (code) => finish(refused(`the gateway closed with ${code}`)));
    socket.on('error', () => finish(refused('the gateway could not be reached')));
  });
}
