/** A language the bot replies in. Other detected languages get an English answer plus a localized note. */
export type ReplyLanguage = 'zh-CN' | 'zh-TW' | 'en';

/** One earlier turn of a channel's conversation, as the context store keeps it. */
export interface ChatTurn {
  requestId: string;
  role: 'user' | 'assistant';
  text: string;
  /** The picture the turn was about, when there was one. */
  imageSha256?: string;
}

/** Which tokens the repetition penalty counts. */
export type RepetitionPenaltyScope = 'generated' | 'prompt+generated';

/** Sampling settings; anything left out comes from the model directory's `model.json`. */
export interface GenerationSettings {
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** 1 disables nucleus sampling. */
  topP: number;
  /** 0 disables top-k. */
  topK: number;
  /** 1 disables the penalty. */
  repetitionPenalty: number;
  /**
   * The tokens the penalty counts: the reply's own (`generated`, Ziya's reference) or the prompt's text tokens too.
   * @defaultValue 'generated'
   */
  repetitionPenaltyScope?: RepetitionPenaltyScope;
  /** False means greedy. */
  doSample: boolean;
  /** Seeds the sampler: the same seed, prompt and settings give the same reply. */
  seed: number;
}

/** One question to the vision-language model. */
export interface ChatModelRequest {
  requestId: string;
  /** The normalized image (from the image store) the question is about; absent for a text-only question. */
  image?: { sha256: string; bytes: Uint8Array };
  /** Earlier turns of the channel, oldest first; the model drops the oldest when over its token budget. */
  history: readonly ChatTurn[];
  question: string;
  /** The reply language the pipeline decided on. */
  language: ReplyLanguage;
  /** The instruction that asks the model to answer in that language (from the message catalog). */
  instruction: string;
  generation?: Partial<GenerationSettings>;
  signal?: AbortSignal;
  /** Called with the whole answer so far each time it grows. */
  onText?: (textSoFar: string) => void;
}

/** Why generation ended: EOS or a stop string, the token limit (or the context), or the abort signal. */
export type FinishReason = 'stop' | 'length' | 'aborted';

/** The model's answer and what it took to produce it. */
export interface ChatModelResult {
  text: string;
  finishReason: FinishReason;
  /** The prompt text as the model saw it (image vectors shown as a placeholder). */
  prompt: string;
  promptTokens: number;
  generatedTokens: number;
  /** True when the image embedding came from the cache instead of the vision tower. */
  usedCachedEmbedding: boolean;
  timings: { visionMs: number; firstTokenMs: number; totalMs: number };
}

/** The vision-language model as the pipeline sees it. Implemented in workers/ on onnxruntime-node. */
export interface ChatModel {
  /** Stable id of the weights (part of embedding cache keys). */
  readonly modelId: string;
  /** True when the weights are random demo weights whose replies mean nothing. */
  readonly demo: boolean;
  /** Answers it decodes together (its batch); undefined: as many as it is given. */
  readonly batchSize?: number | undefined;
  answer(request: ChatModelRequest): Promise<ChatModelResult>;
  close(): Promise<void>;
}

/** Projected image vectors cached by model id + image sha256, so follow-up questions skip the vision tower. */
export interface EmbeddingCache {
  get(modelId: string, sha256: string): Promise<Float32Array | undefined>;
  set(modelId: string, sha256: string, embedding: Float32Array): Promise<void>;
}
