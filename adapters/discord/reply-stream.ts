import type { Redis } from 'ioredis';
import type { ReplyTarget } from '../../src/contracts/platform.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { splitMessage } from './encode.ts';
import type { ReplySink } from './reply-sink.ts';

interface StreamState {
  target: ReplyTarget;
  sink: ReplySink;
  /** Parts created so far: index → message id and the text it shows. */
  parts: Map<number, { id: string; content: string }>;
  latest: string;
  timer?: NodeJS.Timeout | undefined;
  lastFlushAt: number;
  chain: Promise<void>;
  finished: boolean;
}

/** What {@link ReplyStreams} needs. */
export interface ReplyStreamsOptions {
  redis: Redis;
  /** Key prefix of the created-parts hashes (`<prefix>:discord-parts:<requestId>`). */
  keyPrefix: string;
  sinkFor(target: ReplyTarget, requestId: string): ReplySink;
  editIntervalMs: number;
  maxMessageLength: number;
  logger: Logger;
  /** Called once per request when its first text is shown (the typing indicator stops). */
  onFirstText(requestId: string): void;
}

const partsTtlSeconds = 86_400;
const maxTracked = 5000;

/**
 * The answers being shown on Discord: streamed text edits one message at most once per `editIntervalMs`, rolling
 * over to a new message before the length limit (code blocks closed and reopened), and the final answer replaces the
 * stream. The parts created are recorded in Redis, so a retried or re-routed final delivery edits them instead of
 * posting again; creates carry a nonce for the window between a create and its record.
 */
export class ReplyStreams {
  private readonly states = new Map<string, StreamState>();
  private readonly targets = new Map<string, ReplyTarget>();

  constructor(private readonly options: ReplyStreamsOptions) {}

  /** Remembers where a request's answer goes (progress events carry no target). */
  expect(requestId: string, target: ReplyTarget): void {
    this.targets.set(requestId, target);
    // Answers delivered by another replica never finish here: forget the oldest past a bound.
    for (const map of [this.targets, this.states] as Map<string, unknown>[]) {
      while (map.size > maxTracked) {
        const oldest = map.keys().next().value;
        if (oldest === undefined) break;
        if (map === this.states) clearTimeout(this.states.get(oldest)?.timer);
        map.delete(oldest);
      }
    }
  }

  /** Shows partial text of a request answered for this adapter instance. */
  progress(requestId: string, text: string): void {
    const state = this.stateOf(requestId);
    if (state === undefined || state.finished || text.trim() === '') return;
    state.latest = text;
    if (state.timer !== undefined) return;
    const wait = Math.max(0, state.lastFlushAt + this.options.editIntervalMs - Date.now());
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.enqueue(state, async () => {
        if (state.finished) return;
        state.lastFlushAt = Date.now();
        await this.show(requestId, state, splitMessage(state.latest, this.options.maxMessageLength), false);
      });
    }, wait);
  }

  /** Shows the final answer (already rendered), editing the streamed parts; safe to call again after a failure. */
  async finish(requestId: string, target: ReplyTarget, text: string): Promise<void> {
    const state = this.stateOf(requestId, target);
    if (state === undefined) return;
    state.finished = true;
    clearTimeout(state.timer);
    state.timer = undefined;
    let failure: unknown;
    this.enqueue(state, async () => {
      try {
        await this.show(requestId, state, splitMessage(text, this.options.maxMessageLength), true);
      } catch (error) {
        failure = error;
      }
    });
    await state.chain;
    if (failure !== undefined) {
      state.finished = false; // a retry may finish it; later progress is still ignored by the stream being late
      throw failure;
    }
    this.states.delete(requestId);
    this.targets.delete(requestId);
  }

  /** Stops every pending edit. */
  close(): void {
    for (const state of this.states.values()) clearTimeout(state.timer);
    this.states.clear();
  }

  private stateOf(requestId: string, target?: ReplyTarget): StreamState | undefined {
    let state = this.states.get(requestId);
    if (state !== undefined) return state;
    const known = target ?? this.targets.get(requestId);
    if (known === undefined) return undefined;
    state = {
      target: known,
      sink: this.options.sinkFor(known, requestId),
      parts: new Map(),
      latest: '',
      lastFlushAt: 0,
      chain: Promise.resolve(),
      finished: false,
    };
    this.states.set(requestId, state);
    return state;
  }

  private enqueue(state: StreamState, step: () => Promise<void>): void {
    state.chain = state.chain.then(step).catch((error: unknown) => {
      this.options.logger.warn({ error: (error as Error).message }, 'discord: showing streamed text failed');
    });
  }

  private partsKey(requestId: string): string {
    return `${this.options.keyPrefix}:discord-parts:${requestId}`;
  }

  private async show(requestId: string, state: StreamState, chunks: string[], final: boolean): Promise<void> {
    if (final || state.parts.size === 0) {
      const recorded = await this.options.redis.hgetall(this.partsKey(requestId));
      for (const [index, value] of Object.entries(recorded)) {
        if (!state.parts.has(Number(index))) state.parts.set(Number(index), JSON.parse(value));
      }
    }
    for (const [index, content] of chunks.entries()) {
      const part = state.parts.get(index);
      if (part === undefined) {
        const id = await state.sink.create(index, content);
        state.parts.set(index, { id, content });
        await this.record(requestId, index, id, content);
        if (index === 0) this.options.onFirstText(requestId);
      } else if (part.content !== content) {
        await state.sink.edit(part.id, content);
        part.content = content;
        await this.record(requestId, index, part.id, content);
      }
    }
    if (!final) return;
    for (const [index, part] of [...state.parts.entries()].filter(([index]) => index >= chunks.length)) {
      await state.sink.remove(part.id).catch(() => {});
      state.parts.delete(index);
      await this.options.redis.hdel(this.partsKey(requestId), String(index));
    }
  }

  private async record(requestId: string, index: number, id: string, content: string): Promise<void> {
    const key = this.partsKey(requestId);
    await this.options.redis
      .multi()
      .hset(key, String(index), JSON.stringify({ id, content }))
      .expire(key, partsTtlSeconds)
      .exec();
  }
}
