import { StreamingDetokenizer } from '../model/tokenizer/streaming-detokenizer.ts';
import type { GenerationTokenizer } from './generation-tokenizer.ts';
import type { FinishReason, GenerationRequest, GenerationResult, GenerationTimings } from './generation-types.ts';
import { sampleToken } from './sampling.ts';
import { createSeededRandom, type RandomSource } from './seeded-random.ts';
import { StopSequenceFilter } from './stop-sequence-filter.ts';

/**
 * The state of one reply while it is generated: picks each token from the logits, keeps the visible text (stop
 * strings cut, unfinished characters held back), streams it and decides when the reply is finished.
 */
export class SequenceProgress {
  readonly tokenIds: number[] = [];
  finishReason: FinishReason | undefined;
  private readonly history: number[];
  private readonly random: RandomSource;
  private readonly filter: StopSequenceFilter;
  private readonly detokenizer: StreamingDetokenizer;
  private sampled = 0;
  private visibleText = '';
  private emittedText = '';
  private stoppedByString = false;

  /**
   * @param maxNewTokens - the request's limit, already lowered to what fits the context
   */
  constructor(
    private readonly request: GenerationRequest,
    tokenizer: GenerationTokenizer,
    private readonly eosTokenId: number,
    private readonly maxNewTokens: number,
  ) {
    // The tokens the repetition penalty counts: the prompt's only when the model's scope says so.
    this.history = request.settings.repetitionPenaltyScope === 'prompt+generated' ? [...request.promptTokenIds] : [];
    this.random = createSeededRandom(request.settings.seed);
    this.filter = new StopSequenceFilter(request.stop ?? []);
    this.detokenizer = new StreamingDetokenizer(tokenizer, { skipSpecialTokens: true });
    if (maxNewTokens <= 0) this.finishReason = 'length';
  }

  /** True once EOS, a stop string or the limit ended the reply. */
  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** The last token chosen (the next decoder input). */
  get lastTokenId(): number {
    return this.tokenIds[this.tokenIds.length - 1] ?? this.eosTokenId;
  }

  /** Chooses the next token from one row of logits (modified in place) and updates text and state. */
  accept(logits: Float32Array): number {
    const token = sampleToken(logits, this.request.settings, this.history, this.random);
    this.sampled++;
    if (token === this.eosTokenId) {
      this.finish('stop');
      return token;
    }
    this.tokenIds.push(token);
    this.history.push(token);
    this.detokenizer.push(token);
    const result = this.filter.inspect(this.detokenizer.text);
    this.visibleText = result.visibleText;
    if (result.stopped) {
      this.stoppedByString = true;
      this.finish('stop');
      return token;
    }
    if (this.visibleText.length > this.emittedText.length) this.emit(this.visibleText);
    if (this.sampled >= this.maxNewTokens) this.finish('length');
    return token;
  }

  /** Ends the reply (abort, or a limit the loop found). */
  finish(reason: FinishReason): void {
    if (this.finished) return;
    this.finishReason = reason;
    if (!this.stoppedByString) {
      // Not stopped by a stop string: what was held back as a possible stop-string start is part of the reply.
      this.detokenizer.flush();
      const result = this.filter.inspect(this.detokenizer.text, true);
      this.visibleText = result.visibleText;
    }
    if (this.visibleText !== this.emittedText) this.emit(this.visibleText);
  }

  private emit(text: string): void {
    this.emittedText = text;
    this.request.onText?.(text);
  }

  /** The finished result. */
  result(promptTokens: number, timings: GenerationTimings): GenerationResult {
    return {
      text: this.visibleText,
      tokenIds: [...this.tokenIds],
      finishReason: this.finishReason ?? 'length',
      promptTokens,
      generatedTokens: this.sampled,
      timings,
    };
  }
}
