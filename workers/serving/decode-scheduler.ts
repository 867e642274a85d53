import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DecoderModel, KeyValueTensors } from '../runtime/decoder-model.ts';
import { releaseCache } from '../runtime/device-cache-graphs.ts';
import { EmbeddingMemo, promptBudget, promptEmbeddings } from '../runtime/generate.ts';
import type { GenerationRequest, GenerationResult, GenerationTimings } from '../runtime/generation-types.ts';
import { SequenceProgress } from '../runtime/sequence-progress.ts';
import { HostSlotPool, type SlotPool } from './slot-pool.ts';

/** What the scheduler reports as it runs (metrics). Every member is optional. */
export interface SchedulerObserver {
  /** A decode step ran `rows` sequences in `ms`. */
  step?(rows: number, ms: number): void;
  /** A prefill run wrote `positions` prompt positions of a joining request in `ms`. */
  prefill?(positions: number, ms: number): void;
  /** A request got a slot after waiting `ms` for one. */
  joined?(waitMs: number): void;
  /** A request's first token came `ms` after it was submitted. */
  firstToken?(ms: number): void;
  /** A sequence's token came `ms` after its previous one. */
  token?(gapMs: number): void;
  /** The number of occupied slots changed. */
  occupied?(slots: number): void;
}

/** How a {@link DecodeScheduler} runs. */
export interface DecodeSchedulerOptions {
  /** Slots: the most sequences decoded together. Ignored when `pool` is given. @defaultValue 8 */
  batchSize?: number;
  /** The KV-cache slots to use. @defaultValue a {@link HostSlotPool} of `batchSize` slots */
  pool?: SlotPool;
  /**
   * The most prompt positions a joining request prefills per decoder run. Its prompt goes in chunks, each followed by
   * one decode step for everyone else. @defaultValue 256
   */
  prefillChunk?: number;
  /**
   * While other sequences decode, a chunk is sized to take about this long, from the prefill speed last measured
   * (the first chunk is 16 positions): the longest pause a joining prompt causes the others is about this plus one
   * step, whatever the hardware. (256 positions of the `small` model take over a second on two CPU cores.)
   * @defaultValue 200
   */
  prefillPauseMs?: number;
  /** The clock (tests). @defaultValue performance.now */
  now?: () => number;
  observer?: SchedulerObserver;
}

/** Thrown to requests still waiting when the scheduler closes. */
export class SchedulerClosedError extends Error {
  override readonly name = 'SchedulerClosedError';
}

/** One request: waiting for a slot, prefilling its prompt into one, or decoding. */
interface Sequence {
  readonly request: GenerationRequest;
  readonly resolve: (result: GenerationResult) => void;
  readonly reject: (error: unknown) => void;
  readonly progress: SequenceProgress;
  readonly promptTokens: number;
  readonly submittedAt: number;
  readonly timings: GenerationTimings;
  /** Prompt vectors, kept until the prompt is in the cache. */
  embeddings: Float32Array | undefined;
  /** Prompt positions prefilled so far. */
  prefilled: number;
  /**
   * Whether the prompt is prefilled straight into its slot; decided at its first chunk. Not while others decode: a
   * slot holding a long prompt would widen every step's cache tensors, and on the CPU a step costs in proportion to
   * their width (see {@link HostSlotPool}). Nor in pools without slot views (device memory).
   */
  inSlot: boolean | undefined;
  /** The prompt's cache while it is prefilled apart, written into its slot after the last chunk. */
  apart: KeyValueTensors | undefined;
  /** Decode steps taken (the first token, from the prefill, not counted). */
  steps: number;
  firstTokenAt: number;
  lastTokenAt: number;
}

/** The bookkeeping of one slot: who holds it and how many of its positions hold that sequence's cache. */
interface Slot {
  sequence: Sequence | undefined;
  /** Positions written: a decode step writes the row's next token here (padding rows included). */
  length: number;
}

const defaults = {
  batchSize: 8,
  prefillChunk: 256,
  prefillPauseMs: 200,
} as const satisfies Partial<DecodeSchedulerOptions>;

/** Chunks are whole multiples of this many positions (and never fewer). */
const chunkQuantum = 16;

/**
 * Continuous batching: one decoder run per step over every sequence being decoded, each row at its own position
 * (GroupQueryAttention's right-padded `seqlens_k`), with sequences joining and leaving between steps. A joining
 * request's prompt is prefilled on its own, in chunks interleaved with the others' steps (GQA runs several new
 * positions over a past only at batch 1), straight into its slot of the pool. A finished, aborted or timed-out
 * sequence leaves at the next step boundary and its slot takes the next waiting request.
 *
 * Each row keeps everything a lone generation has: its own sampling settings and seed, repetition penalty, stop
 * strings, token limit and context budget, streaming and abort signal (all in its {@link SequenceProgress}).
 */
export class DecodeScheduler {
  /** The KV-cache slots. */
  readonly pool: SlotPool;
  private readonly slots: Slot[];
  private readonly waiting: Sequence[] = [];
  private readonly embeddings: EmbeddingMemo;
  private readonly prefillChunk: number;
  private readonly prefillPauseMs: number;
  private readonly now: () => number;
  /**
   * Whether steps are decode steps, which read the cache where it lies and return only the new positions (a decoder
   * built for them and a pool that stores them); otherwise the presents are the whole cache again, written in place
   * or adopted.
   */
  private readonly decodeSteps: boolean;
  /** Prompt positions per ms of the last prefill run; undefined before the first. */
  private prefillRate: number | undefined;
  private readonly observer: SchedulerObserver;
  private looping = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(
    private readonly model: DecoderModel,
    options: DecodeSchedulerOptions = {},
  ) {
    const batchSize = options.batchSize ?? defaults.batchSize;
    if (model.manifest.decoderPadding !== 'right' && (options.pool?.size ?? batchSize) > 1) {
      throw new RangeError(
        'this decoder was built with --padding any, which cannot batch sequences at different positions: ' +
          'rebuild the model directory with --padding right, or use a batch size of 1',
      );
    }
    this.pool = options.pool ?? new HostSlotPool(model, batchSize);
    this.slots = Array.from({ length: this.pool.size }, () => ({ sequence: undefined, length: 0 }));
    this.decodeSteps = model.decodeSteps && this.pool.append !== undefined;
    this.embeddings = new EmbeddingMemo(model);
    this.prefillChunk = options.prefillChunk ?? defaults.prefillChunk;
    this.prefillPauseMs = options.prefillPauseMs ?? defaults.prefillPauseMs;
    this.now = options.now ?? (() => performance.now());
    this.observer = options.observer ?? {};
  }

  /** Slots held by a sequence (prefilling or decoding). */
  get occupiedSlots(): number {
    return this.slots.filter((slot) => slot.sequence !== undefined).length;
  }

  /** Requests waiting for a free slot. */
  get waitingRequests(): number {
    return this.waiting.length;
  }

  /** Generates one reply; it joins the running batch at the next step boundary with a free slot. */
  submit(request: GenerationRequest): Promise<GenerationResult> {
    if (this.closed) return Promise.reject(new SchedulerClosedError('the decode scheduler is closed'));
    let budget: { promptTokens: number; maxNewTokens: number };
    try {
      budget = promptBudget(this.model, request);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<GenerationResult>((resolve, reject) => {
      const { eosTokenId } = this.model.manifest.text;
      const now = this.now();
      this.waiting.push({
        request,
        resolve,
        reject,
        progress: new SequenceProgress(request, this.model.tokenizer, eosTokenId, budget.maxNewTokens),
        promptTokens: budget.promptTokens,
        submittedAt: now,
        timings: { prefillMs: 0, firstTokenMs: 0, decodeMs: 0, tokensPerSecond: 0 },
        embeddings: undefined,
        prefilled: 0,
        inSlot: undefined,
        apart: undefined,
        steps: 0,
        firstTokenAt: now,
        lastTokenAt: now,
      });
      this.start();
    });
  }

  /** Refuses new requests, fails the waiting ones and resolves once the sequences in slots have finished. */
  async close(): Promise<void> {
    this.closed = true;
    for (const sequence of this.waiting.splice(0)) {
      sequence.reject(new SchedulerClosedError('the decode scheduler closed before this request got a slot'));
    }
    await this.idle;
    await this.pool.dispose();
  }

  private start(): void {
    if (this.looping) return;
    this.looping = true;
    this.idle = new Promise((resolve) => {
      this.markIdle = resolve;
    });
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0 || this.occupiedSlots > 0) {
        this.leaveAborted();
        this.admit();
        const joining = this.slots.find((slot) => slot.sequence !== undefined && isPrefilling(slot.sequence));
        if (joining) await this.guard([joining], () => this.prefillNext(joining));
        const decoding = this.slots.filter((slot) => slot.sequence !== undefined && !isPrefilling(slot.sequence));
        if (decoding.length > 0) await this.guard(decoding, () => this.step(decoding));
        // Let timers and I/O (job lock renewals, progress events, new jobs) run between steps.
        await nextTurn();
      }
    } finally {
      this.looping = false;
      this.markIdle();
    }
  }

  /** Runs `work`; when it throws, the sequences it concerned fail and leave, and the others go on. */
  private async guard(slots: Slot[], work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      for (const slot of slots) {
        const sequence = slot.sequence;
        if (sequence === undefined) continue;
        this.free(slot);
        sequence.reject(error);
      }
    }
  }

  /** Sequences whose signal fired leave now, waiting or not. */
  private leaveAborted(): void {
    for (let index = this.waiting.length - 1; index >= 0; index--) {
      const sequence = this.waiting[index]!;
      if (!sequence.request.signal?.aborted) continue;
      this.waiting.splice(index, 1);
      sequence.progress.finish('aborted');
      this.settle(sequence);
    }
    for (const slot of this.slots) {
      const sequence = slot.sequence;
      if (sequence?.request.signal?.aborted) {
        sequence.progress.finish('aborted');
        this.leave(slot);
      }
    }
  }

  /** Gives free slots to waiting requests, oldest first. */
  private admit(): void {
    let changed = false;
    for (const slot of this.slots) {
      if (slot.sequence !== undefined) continue;
      const sequence = this.waiting.shift();
      if (sequence === undefined) break;
      if (sequence.progress.finished) {
        // Nothing to generate (no room left in the context): answered without a slot.
        this.settle(sequence);
        continue;
      }
      slot.sequence = sequence;
      slot.length = 0;
      changed = true;
      this.observer.joined?.(this.now() - sequence.submittedAt);
    }
    if (changed) this.observer.occupied?.(this.occupiedSlots);
  }

  /** Prefills the next chunk of a joining sequence's prompt; the last chunk gives its first token. */
  private async prefillNext(slot: Slot): Promise<void> {
    const sequence = slot.sequence!;
    const started = this.now();
    const hidden = this.model.manifest.text.hiddenSize;
    sequence.embeddings ??= await promptEmbeddings(this.model, sequence.request);
    const from = sequence.prefilled;
    const to = Math.min(sequence.promptTokens, from + this.chunkFor(slot));
    const index = this.slots.indexOf(slot);
    sequence.inSlot ??= !this.othersDecoding(slot) && this.pool.slot(index) !== undefined;
    if (sequence.inSlot) this.fitPool(to);
    const view = sequence.inSlot ? this.pool.slot(index) : undefined;
    const past = view ?? sequence.apart ?? this.model.emptyCache(1);
    const runStarted = this.now();
    const output = await this.model.runDecoder({
      inputsEmbeds: sequence.embeddings.subarray(from * hidden, to * hidden),
      batch: 1,
      sequence: to - from,
      attentionMask: new BigInt64Array(to).fill(1n),
      past,
      logitsToKeep: 1,
      reuseLogits: true,
      ...(view ? { presentInto: view } : {}),
    });
    const ran = this.now() - runStarted;
    this.prefillRate = (to - from) / Math.max(ran, 1e-3);
    this.observer.prefill?.(to - from, ran);
    sequence.prefilled = to;
    slot.length = view ? to : 0;
    if (!view) {
      // The previous chunk's cache is superseded (device memory is freed only when told).
      if (sequence.apart !== undefined) releaseCache(sequence.apart);
      sequence.apart = output.present;
    }
    if (to < sequence.promptTokens) {
      sequence.timings.prefillMs += this.now() - started;
      return;
    }
    if (!view) {
      this.fitPool(to);
      await this.pool.write(index, output.present, to);
      slot.length = to;
      sequence.apart = undefined;
    }
    sequence.embeddings = undefined;
    const now = this.now();
    sequence.timings.prefillMs += now - started;
    sequence.timings.firstTokenMs = now - sequence.submittedAt;
    sequence.firstTokenAt = now;
    sequence.lastTokenAt = now;
    this.observer.firstToken?.(sequence.timings.firstTokenMs);
    sequence.progress.accept(output.logits);
    if (sequence.progress.finished) this.leave(slot);
  }

  /**
   * Positions of the next prefill chunk: all the rest up to {@link DecodeSchedulerOptions.prefillChunk} when nobody
   * else is decoding, otherwise what the last measured speed does in `prefillPauseMs`.
   */
  private chunkFor(joining: Slot): number {
    if (!this.othersDecoding(joining)) return this.prefillChunk;
    const fits = this.prefillRate === undefined ? chunkQuantum : this.prefillRate * this.prefillPauseMs;
    const chunk = Math.floor(fits / chunkQuantum) * chunkQuantum;
    return Math.min(this.prefillChunk, Math.max(chunkQuantum, chunk));
  }

  /** Whether a sequence other than the one in `joining` is decoding. */
  private othersDecoding(joining: Slot): boolean {
    return this.slots.some((slot) => slot !== joining && slot.sequence !== undefined && !isPrefilling(slot.sequence));
  }

  /** One decoder run: every decoding sequence's last token at its own position; rows in between ride as padding. */
  private async step(decoding: Slot[]): Promise<void> {
    const started = this.now();
    const { padTokenId, vocabSize } = this.model.manifest.text;
    const rows = this.pool.staticShapes
      ? this.pool.size
      : Math.max(...decoding.map((slot) => this.slots.indexOf(slot))) + 1;
    const width = this.pool.staticShapes
      ? this.pool.capacity
      : Math.max(...this.slots.slice(0, rows).map((slot) => slot.length)) + 1;
    // A padding row writes its ignored token at its own next position: a free slot's position 0, or the position a
    // prefilling sequence writes next anyway, so nothing a sequence will read is overwritten.
    const mask = new BigInt64Array(rows * width);
    const tokens: number[] = [];
    for (let row = 0; row < rows; row++) {
      const slot = this.slots[row]!;
      mask.fill(1n, row * width, row * width + slot.length + 1);
      tokens.push(decoding.includes(slot) ? slot.sequence!.progress.lastTokenId : padTokenId);
    }
    this.fitPool(width);
    const cache = this.pool.rows(rows);
    const output = await this.model.runDecoder({
      inputsEmbeds: await this.embeddings.rowsOf(tokens),
      batch: rows,
      sequence: 1,
      attentionMask: mask,
      past: cache,
      logitsToKeep: 1,
      reuseLogits: true,
      ...(this.decodeSteps ? { decodeStep: true } : this.pool.inPlace ? { presentInto: cache } : {}),
    });
    if (this.decodeSteps) {
      this.pool.append!(
        decoding.map((slot) => ({ row: this.slots.indexOf(slot), position: slot.length })),
        output.present,
      );
    } else if (!this.pool.inPlace) {
      this.pool.adopt(output.present);
    }
    const now = this.now();
    this.observer.step?.(decoding.length, now - started);
    for (const slot of decoding) {
      const row = this.slots.indexOf(slot);
      const sequence = slot.sequence!;
      slot.length++;
      sequence.steps++;
      this.observer.token?.(now - sequence.lastTokenAt);
      sequence.lastTokenAt = now;
      sequence.progress.accept(output.logits.subarray(row * vocabSize, (row + 1) * vocabSize));
      if (sequence.progress.finished) this.leave(slot);
    }
  }

  /**
   * Lets the pool size its tensors for a run that writes up to position `positions - 1`, keeping every slot's cached
   * positions (and the one a padding row writes next).
   */
  private fitPool(positions: number): void {
    const lengths = this.slots.map((slot) => slot.length);
    this.pool.fit?.(Math.max(positions, ...lengths.map((length) => length + 1)), lengths);
  }

  /** A finished sequence gives its slot back and gets its result. */
  private leave(slot: Slot): void {
    const sequence = slot.sequence!;
    this.free(slot);
    this.settle(sequence);
  }

  private free(slot: Slot): void {
    const apart = slot.sequence?.apart;
    if (apart !== undefined) {
      // Left mid-prompt (an abort): its partial cache is not the pool's.
      releaseCache(apart);
      slot.sequence!.apart = undefined;
    }
    slot.sequence = undefined;
    slot.length = 0;
    this.observer.occupied?.(this.occupiedSlots);
  }

  private settle(sequence: Sequence): void {
    const { timings } = sequence;
    if (sequence.steps > 0) {
      timings.decodeMs = sequence.lastTokenAt - sequence.firstTokenAt;
      timings.tokensPerSecond = timings.decodeMs > 0 ? (sequence.steps * 1000) / timings.decodeMs : 0;
    }
    sequence.resolve(sequence.progress.result(sequence.promptTokens, timings));
  }
}

function isPrefilling(sequence: Sequence): boolean {
  return sequence.prefilled < sequence.promptTokens;
}
