import type { DecoderModel } from './decoder-model.ts';
import type { GenerationRequest, GenerationResult, GenerationTimings } from './generation-types.ts';
import { SequenceProgress } from './sequence-progress.ts';

/** The per-row bookkeeping both batched decode loops share: progress, timings, decode steps, aborts and results. */
export class BatchRows {
  readonly rows: SequenceProgress[];
  readonly timings: GenerationTimings[];
  /** Decode steps taken by each row (the first token, from the prefill, not counted). */
  readonly steps: number[];

  /**
   * @param promptTokens - each row's prompt length
   * @param maxNewTokens - each row's token allowance
   * @param startedAt - `performance.now()` when the batch started
   */
  constructor(
    model: DecoderModel,
    private readonly requests: readonly GenerationRequest[],
    private readonly promptTokens: readonly number[],
    maxNewTokens: readonly number[],
    private readonly startedAt: number,
  ) {
    const { eosTokenId } = model.manifest.text;
    this.rows = requests.map(
      (request, index) => new SequenceProgress(request, model.tokenizer, eosTokenId, maxNewTokens[index]!),
    );
    this.timings = this.rows.map(() => ({ prefillMs: 0, firstTokenMs: 0, decodeMs: 0, tokensPerSecond: 0 }));
    this.steps = this.rows.map(() => 0);
  }

  /** Finishes, as `aborted`, every unfinished row whose request's signal fired. */
  abortFinished(): void {
    this.rows.forEach((row, index) => {
      if (!row.finished && this.requests[index]!.signal?.aborted) row.finish('aborted');
    });
  }

  /** True when no row needs another step. */
  allFinished(): boolean {
    return this.rows.every((row) => row.finished);
  }

  /** Gives row `index` its next logits; a row that finishes gets its decode timings. */
  accept(index: number, logits: Float32Array, now = performance.now()): void {
    const row = this.rows[index]!;
    row.accept(logits);
    if (row.finished) {
      const timing = this.timings[index]!;
      const steps = this.steps[index]!;
      timing.decodeMs = now - this.startedAt - timing.firstTokenMs;
      timing.tokensPerSecond = steps > 0 ? (steps * 1000) / timing.decodeMs : 0;
    }
  }

  /** Every row's result. */
  results(): GenerationResult[] {
    return this.rows.map((row, index) => row.result(this.promptTokens[index]!, this.timings[index]!));
  }
}
