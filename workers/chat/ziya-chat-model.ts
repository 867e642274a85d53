import { createHash } from 'node:crypto';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import type {
  ChatModel,
  ChatModelRequest,
  ChatModelResult,
  EmbeddingCache,
  FinishReason,
} from '../../src/model/chat-model.ts';
import type { ModelManifest } from '../model/manifest.ts';
import { decodeStepAdvice } from '../runtime/decode-step-advice.ts';
import type { GenerationSettings } from '../runtime/generation-types.ts';
import type { LanguageModel } from '../runtime/language-model.ts';
import { loadLanguageModel } from '../runtime/language-model.ts';
import type { ExecutionProvider } from '../runtime/onnx-session.ts';
import { createSlotPool } from '../serving/create-slot-pool.ts';
import { DecodeScheduler, type SchedulerObserver } from '../serving/decode-scheduler.ts';
import { checkSlotMemory } from '../serving/slot-memory.ts';
import { VisionBatcher } from '../serving/vision-batcher.ts';
import { warmUpDecoder } from '../serving/warm-up.ts';
import { preprocessImage } from './preprocess-image.ts';
import { buildPrompt } from './prompt-builder.ts';
import { VisionEncoder } from './vision-encoder.ts';

/** How to load a {@link ZiyaChatModel}. */
export interface ZiyaChatModelOptions {
  executionProvider: ExecutionProvider;
  /** Intra-op threads on CPU. @defaultValue onnxruntime's choice (all cores) */
  threads?: number;
  /** Where image embeddings are kept between questions (Redis in the pipeline). @defaultValue no cache */
  embeddingCache?: EmbeddingCache;
  /**
   * Told when the embedding cache fails (Redis down, say); the answer goes on without it, through the vision tower.
   * @defaultValue ignore the failure
   */
  onCacheError?: (error: unknown, operation: 'get' | 'set') => void;
  /** Largest accepted image, in pixels. @defaultValue preprocessImage's limit (40 megapixels) */
  maxInputPixels?: number;
  /**
   * Sequences decoded together (the decode scheduler's KV slots). A decoder built with `--padding any` cannot batch
   * rows at different positions and runs with 1 (see {@link ZiyaChatModel.batchLimit}). @defaultValue 1
   */
  batchSize?: number;
  /** Prompt positions a joining request prefills per run while others decode. @defaultValue the scheduler's */
  prefillChunk?: number;
  /** Told of each decode step, join, first token and token gap (metrics). */
  observer?: SchedulerObserver;
  /** Told the number of images in each vision-tower run. */
  onVisionBatch?: (images: number) => void;
}

/** Where the time of one answer went, in milliseconds (what {@link ChatModelResult} asks for, and more). */
export interface ZiyaTimings {
  /** All image work: cache lookup, preprocessing, vision tower, cache store. */
  visionMs: number;
  /** Decoding and normalizing the image (0 when the embedding came from the cache). */
  preprocessMs: number;
  /** The vision tower's run (0 when the embedding came from the cache). */
  visionTowerMs: number;
  /** From the call until the first answer token was chosen. */
  firstTokenMs: number;
  /** The decoder's run over the whole prompt. */
  prefillMs: number;
  /** Decode steps after the first token. */
  decodeMs: number;
  /** Decode steps per second. */
  tokensPerSecond: number;
  totalMs: number;
}

/** A {@link ChatModelResult} with the answer's token ids and a finer breakdown of the time. */
export interface ZiyaChatModelResult extends ChatModelResult {
  /** Generated token ids (the final EOS left out). */
  tokenIds: number[];
  timings: ZiyaTimings;
}

/** A fixed seed per request id: a retried request samples the same answer. */
function seedOf(requestId: string): number {
  return createHash('sha256').update(requestId).digest().readUInt32LE(0);
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && (error === signal.reason || (error as Error | undefined)?.name === 'AbortError');
}

/**
 * Ziya-Visual on onnxruntime-node: the image goes through preprocessing and `vision.onnx` (or comes from the
 * embedding cache), its 32 vectors are placed before the prompt's token embeddings, and the decoder streams the
 * answer. Sampling defaults come from `model.json`, overridden by the request.
 */
export class ZiyaChatModel implements ChatModel {
  /** Stable id of the weights (part of embedding cache keys). */
  readonly modelId: string;
  /** True when the weights are random demo weights whose replies mean nothing. */
  readonly demo: boolean;

  /** Answers decoded together: the scheduler's slots. */
  get batchSize(): number {
    return this.scheduler.pool.size;
  }

  /** Why the batch size is lower than asked, when it is. */
  readonly batchLimit: string | undefined;
  /** Why this model directory should be rebuilt for decode steps, when it should (logged at start). */
  readonly decodeStepAdvice: string | undefined;
  /** Images of answers that start together go through the vision tower as one batch. */
  private readonly visionBatcher: VisionBatcher | undefined;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly languageModel: LanguageModel,
    private readonly visionEncoder: VisionEncoder | undefined,
    /** Decodes every answer of this model, batched. */
    readonly scheduler: DecodeScheduler,
    private readonly options: ZiyaChatModelOptions,
  ) {
    this.modelId = manifest.modelId;
    this.demo = manifest.demo;
    this.visionBatcher =
      visionEncoder === undefined
        ? undefined
        : new VisionBatcher(visionEncoder, scheduler.pool.size, options.onVisionBatch);
    this.decodeStepAdvice = decodeStepAdvice(languageModel, options.executionProvider);
    const asked = options.batchSize ?? 1;
    this.batchLimit =
      scheduler.pool.size < asked
        ? `the decoder was built with --padding ${manifest.decoderPadding}, which cannot batch: rebuild it with --padding right to decode ${asked} sequences together`
        : undefined;
  }

  /** Loads a model directory (`model.json`, decoder, embedding, tokenizer and, when present, vision graphs). */
  static async load(directory: string, options: ZiyaChatModelOptions): Promise<ZiyaChatModel> {
    const sessionOptions = {
      executionProvider: options.executionProvider,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    };
    const languageModel = await loadLanguageModel(directory, sessionOptions);
    const { manifest } = languageModel;
    try {
      const batchSize = manifest.decoderPadding === 'right' ? (options.batchSize ?? 1) : 1;
      checkSlotMemory(languageModel, batchSize, options.executionProvider);
      const visionEncoder =
        manifest.files.vision === undefined ? undefined : await VisionEncoder.load(directory, manifest, sessionOptions);
      const scheduler = new DecodeScheduler(languageModel, {
        // Host memory on the CPU; on webgpu the cache stays on the device between steps.
        pool: await createSlotPool(languageModel, batchSize),
        ...(options.prefillChunk === undefined ? {} : { prefillChunk: options.prefillChunk }),
        ...(options.observer === undefined ? {} : { observer: options.observer }),
      });
      return new ZiyaChatModel(manifest, languageModel, visionEncoder, scheduler, options);
    } catch (error) {
      await languageModel.dispose();
      throw error;
    }
  }

  /** The request's settings over `model.json`'s defaults. */
  generationSettings(request: Pick<ChatModelRequest, 'generation' | 'requestId'>): GenerationSettings {
    return { ...this.manifest.generation, seed: seedOf(request.requestId), ...request.generation };
  }

  /**
   * The 32 image vectors of a picture: from the cache when this model has seen it, else preprocessing and the vision
   * tower (and the result stored in the cache).
   */
  async imageEmbeddings(
    image: { sha256: string; bytes: Uint8Array },
    signal?: AbortSignal,
  ): Promise<{ embeddings: Float32Array; cached: boolean; preprocessMs: number; visionTowerMs: number }> {
    const encoder = this.visionEncoder;
    if (encoder === undefined) {
      // A text-only model directory: the user is told so in their language (not retried, not a crash).
      throw new ImageRejectedError('image_unsupported', `model ${this.modelId} is text-only (no vision graph)`);
    }
    const cache = this.options.embeddingCache;
    let cachedEmbeddings: Float32Array | undefined;
    try {
      cachedEmbeddings = await cache?.get(this.modelId, image.sha256);
    } catch (error) {
      this.options.onCacheError?.(error, 'get');
    }
    if (cachedEmbeddings !== undefined && cachedEmbeddings.length === encoder.imageSlots * encoder.hiddenSize) {
      return { embeddings: cachedEmbeddings, cached: true, preprocessMs: 0, visionTowerMs: 0 };
    }
    const preprocessStart = performance.now();
    const pixels = await preprocessImage(image.bytes, this.manifest.preprocessing, {
      ...(this.options.maxInputPixels === undefined ? {} : { maxInputPixels: this.options.maxInputPixels }),
      ...(signal === undefined ? {} : { signal }),
    });
    const towerStart = performance.now();
    const embeddings = await this.visionBatcher!.encode(pixels, signal);
    const towerEnd = performance.now();
    try {
      await cache?.set(this.modelId, image.sha256, embeddings);
    } catch (error) {
      this.options.onCacheError?.(error, 'set');
    }
    return {
      embeddings,
      cached: false,
      preprocessMs: towerStart - preprocessStart,
      visionTowerMs: towerEnd - towerStart,
    };
  }

  /** Answers one question, streaming the text through `onText`. An aborted signal ends it with `aborted`. */
  async answer(request: ChatModelRequest): Promise<ZiyaChatModelResult> {
    const startedAt = performance.now();
    const { signal } = request;
    const settings = this.generationSettings(request);
    const timings: ZiyaTimings = {
      visionMs: 0,
      preprocessMs: 0,
      visionTowerMs: 0,
      firstTokenMs: 0,
      prefillMs: 0,
      decodeMs: 0,
      tokensPerSecond: 0,
      totalMs: 0,
    };
    const aborted = (prompt: string): ZiyaChatModelResult => {
      timings.totalMs = performance.now() - startedAt;
      const finishReason: FinishReason = 'aborted';
      return {
        text: '',
        tokenIds: [],
        finishReason,
        prompt,
        promptTokens: 0,
        generatedTokens: 0,
        usedCachedEmbedding: false,
        timings,
      };
    };

    let prefixEmbeddings: Float32Array | undefined;
    let usedCachedEmbedding = false;
    if (request.image !== undefined) {
      const visionStart = performance.now();
      try {
        const image = await this.imageEmbeddings(request.image, signal);
        prefixEmbeddings = image.embeddings;
        usedCachedEmbedding = image.cached;
        timings.preprocessMs = image.preprocessMs;
        timings.visionTowerMs = image.visionTowerMs;
      } catch (error) {
        if (isAbort(error, signal)) return aborted('');
        throw error;
      }
      timings.visionMs = performance.now() - visionStart;
    }

    const hiddenSize = this.manifest.text.hiddenSize;
    const prompt = buildPrompt({
      template: this.manifest.template,
      tokenizer: this.languageModel.tokenizer,
      history: request.history,
      question: request.question,
      instruction: request.instruction,
      imageSha256: request.image?.sha256,
      imageSlots: prefixEmbeddings === undefined ? 0 : prefixEmbeddings.length / hiddenSize,
      maxPositions: this.manifest.text.maxPositions,
      // A huge maxNewTokens must not squeeze out the question: the prompt keeps at least half the context, and the
      // runtime lowers the answer's limit to what is left.
      maxNewTokens: Math.min(settings.maxNewTokens, Math.floor(this.manifest.text.maxPositions / 2)),
    });
    if (signal?.aborted) return aborted(prompt.displayText);

    const generationStart = performance.now();
    const generation = await this.scheduler.submit({
      ...(prefixEmbeddings === undefined ? {} : { prefixEmbeddings }),
      promptTokenIds: prompt.tokenIds,
      settings,
      stop: this.manifest.template.stop,
      ...(signal === undefined ? {} : { signal }),
      ...(request.onText === undefined ? {} : { onText: request.onText }),
    });
    timings.firstTokenMs = generationStart - startedAt + generation.timings.firstTokenMs;
    timings.prefillMs = generation.timings.prefillMs;
    timings.decodeMs = generation.timings.decodeMs;
    timings.tokensPerSecond = generation.timings.tokensPerSecond;
    timings.totalMs = performance.now() - startedAt;
    return {
      text: generation.text,
      tokenIds: generation.tokenIds,
      finishReason: generation.finishReason,
      prompt: prompt.displayText,
      promptTokens: generation.promptTokens,
      generatedTokens: generation.generatedTokens,
      usedCachedEmbedding,
      timings,
    };
  }

  /**
   * Runs every graph once at the shapes serving uses, before the first request: the vision tower on a blank image,
   * and the decoder's prefill, slot copy and decode step at the slot pool's shape ({@link warmUpDecoder}). On a GPU
   * execution provider this is where shaders compile; call it before saying the model is ready. Not for a model
   * already answering. Returns the milliseconds it took.
   */
  async warmUp(): Promise<number> {
    const started = performance.now();
    const size = this.manifest.preprocessing.imageSize;
    await this.visionEncoder?.encode(new Float32Array(3 * size * size));
    await warmUpDecoder(this.languageModel, this.scheduler.pool);
    return performance.now() - started;
  }

  /** Lets the answers in progress finish, then releases every onnxruntime session. */
  async close(): Promise<void> {
    await this.scheduler.close();
    await Promise.all([this.languageModel.dispose(), this.visionEncoder?.dispose()]);
  }
}
