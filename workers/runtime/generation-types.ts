import type { FinishReason, GenerationSettings } from '../../src/model/chat-model.ts';

export type { FinishReason, GenerationSettings };

/** One generation: what comes before the reply, how to sample it and when to stop. */
export interface GenerationRequest {
  /** Vectors placed before the prompt's token embeddings, [rows, hidden] (the 32 projected image queries). */
  prefixEmbeddings?: Float32Array;
  /** The prompt's text tokens (BOS included when wanted). */
  promptTokenIds: readonly number[];
  settings: GenerationSettings;
  /** Generation stops at any of these strings; they are cut from the text. */
  stop?: readonly string[];
  signal?: AbortSignal;
  /** Called with the whole visible reply so far each time it grows. */
  onText?: (textSoFar: string) => void;
}

/** Where the time went. */
export interface GenerationTimings {
  /** The prompt's decoder run (embedding included). */
  prefillMs: number;
  /** From the call until the first generated token was chosen. */
  firstTokenMs: number;
  /** All decode steps after the first token. */
  decodeMs: number;
  /** Decode steps per second (the first token, which comes from the prefill, not counted). */
  tokensPerSecond: number;
}

/** A finished generation. */
export interface GenerationResult {
  text: string;
  /** Generated tokens, the final EOS left out. */
  tokenIds: number[];
  finishReason: FinishReason;
  /** Prompt positions the decoder saw: prefix rows plus text tokens. */
  promptTokens: number;
  /** Tokens sampled, a final EOS included. */
  generatedTokens: number;
  timings: GenerationTimings;
}
