import { type Client, Events } from 'discord.js';
import type { Logger } from '../../src/observability/logger.ts';
import type { GatewaySessionStore } from './gateway-session-store.ts';

/** What @discordjs/ws keeps of a shard's session (discord.js's `WebSocketShard#sessionInfo`). */
interface ShardSessionInfo {
  sessionId: string;
  resumeURL: string;
  shardCount: number;
}

interface ShardState {
  /** The session as of its last event (kept: discord.js forgets it when the connection is closed). */
  info: ShardSessionInfo | undefined;
  /** Sequences dispatched whose handling has not finished, with how many holds each has. */
  pending: Map<number, number>;
  /** The highest sequence dispatched. */
  latest: number;
  /** The sequence last written (or being written). */
  written: number;
  lastEventAt: number;
}

/**
 * Keeps the client's gateway sessions in Redis as events arrive, so a restarted or replacement adapter can RESUME
 * them and have Discord replay what it missed. The sequence written is the last one whose events were taken: an
 * event's handlers {@link hold} it until its message is received (receipt and line in Redis), so a process killed
 * between Discord's event and its receipt has that event replayed (the receipt drops it if it was taken after all).
 * A new session on a shard that had one (Discord refused a RESUME) is logged as a possible gap, with its length.
 */
export class GatewaySessionRecorder {
  private readonly shards = new Map<number, ShardState>();
  private current: { shardId: number; sequence: number } | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly onRaw = (packet: { t?: string | null; s?: number | null }, shardId: number) =>
    this.dispatched(packet, shardId);

  constructor(
    private readonly client: Client,
    private readonly store: GatewaySessionStore,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts recording (after the handlers that {@link hold} events are attached). */
  start(): void {
    this.client.on(Events.Raw, this.onRaw);
    for (const shardId of this.client.ws.shards.keys()) {
      const info = this.sessionInfo(shardId);
      if (info === undefined) continue;
      const sequence = (info as { sequence?: number }).sequence ?? 0;
      this.shards.set(shardId, {
        info: { sessionId: info.sessionId, resumeURL: info.resumeURL, shardCount: info.shardCount },
        pending: new Map(),
        latest: sequence,
        written: -1,
        lastEventAt: this.now(),
      });
      this.schedule(shardId);
    }
  }

  /** The event being dispatched now is taken only once `work` settles. Call from a handler, synchronously. */
  hold(work: Promise<unknown>): void {
    const current = this.current;
    if (current === undefined) return;
    const state = this.shards.get(current.shardId);
    if (state === undefined) return;
    state.pending.set(current.sequence, (state.pending.get(current.sequence) ?? 0) + 1);
    void work.finally(() => this.release(current.shardId, current.sequence));
  }

  /** Stops recording; resolves once every held event is taken and the last sequence is written. */
  async stop(): Promise<void> {
    this.client.off(Events.Raw, this.onRaw);
    const deadline = this.now() + 10_000;
    while ([...this.shards.values()].some((state) => state.pending.size > 0) && this.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    for (const shardId of this.shards.keys()) this.schedule(shardId);
    await this.writing;
  }

  private sessionInfo(shardId: number): ShardSessionInfo | undefined {
    // discord.js keeps @discordjs/ws's session of each shard here (typed private; documented as a property).
    const shard = this.client.ws.shards.get(shardId) as unknown as { sessionInfo?: ShardSessionInfo | null };
    return shard?.sessionInfo ?? undefined;
  }

  private dispatched(packet: { t?: string | null; s?: number | null }, shardId: number): void {
    if (typeof packet.s !== 'number') return;
    const info = this.sessionInfo(shardId);
    let state = this.shards.get(shardId);
    if (packet.t === 'READY' && state !== undefined && state.info?.sessionId !== info?.sessionId) {
      this.logger.warn(
        { shardId, gapMs: this.now() - state.lastEventAt, lastEventAt: new Date(state.lastEventAt).toISOString() },
        'discord: the gateway session could not be resumed and a new one was started (IDENTIFY): messages sent in the gap may never arrive',
      );
    }
    if (state === undefined || state.info?.sessionId !== info?.sessionId) {
      state = { info: undefined, pending: new Map(), latest: 0, written: -1, lastEventAt: this.now() };
      this.shards.set(shardId, state);
    }
    if (info !== undefined)
      state.info = { sessionId: info.sessionId, resumeURL: info.resumeURL, shardCount: info.shardCount };
    state.latest = Math.max(state.latest, packet.s);
    state.lastEventAt = this.now();
    // Held until discord.js has run its handlers for this packet (synchronously, right after this listener).
    state.pending.set(packet.s, (state.pending.get(packet.s) ?? 0) + 1);
    this.current = { shardId, sequence: packet.s };
    const sequence = packet.s;
    queueMicrotask(() => {
      if (this.current?.sequence === sequence && this.current.shardId === shardId) this.current = undefined;
      this.release(shardId, sequence);
    });
  }

  private release(shardId: number, sequence: number): void {
    const state = this.shards.get(shardId);
    if (state === undefined) return;
    const holds = (state.pending.get(sequence) ?? 1) - 1;
    if (holds > 0) state.pending.set(sequence, holds);
    else state.pending.delete(sequence);
    this.schedule(shardId);
  }

  /** The last sequence whose events, and all before it, were taken. */
  private taken(state: ShardState): number {
    if (state.pending.size === 0) return state.latest;
    return Math.min(...state.pending.keys()) - 1;
  }

  private schedule(shardId: number): void {
    const state = this.shards.get(shardId);
    const info = state?.info;
    if (state === undefined || info === undefined) return;
    const sequence = this.taken(state);
    if (sequence <= state.written) return;
    state.written = sequence;
    const session = {
      shardId,
      shardCount: info.shardCount,
      sessionId: info.sessionId,
      sequence,
      resumeUrl: info.resumeURL,
      savedAt: this.now(),
    };
    // Written one after another, so a later sequence is never overwritten by an earlier one.
    this.writing = this.writing
      .then(() => this.store.save(session))
      .catch((error: unknown) =>
        this.logger.warn({ shardId, error: (error as Error).message }, 'discord: could not store the gateway session'),
      );
  }
}
