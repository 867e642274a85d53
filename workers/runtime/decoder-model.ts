import type { ModelManifest } from '../model/manifest.ts';
import type { GenerationTokenizer } from './generation-tokenizer.ts';
import type { CacheType } from './model-directory-validation.ts';
import type { Tensor } from './onnx-session.ts';

/** One decoder run: the new positions' embeddings, the mask over past + new, the cache, how many logits. */
export interface DecoderStep {
  /** [batch, sequence, hidden]. */
  inputsEmbeds: Float32Array;
  batch: number;
  sequence: number;
  /** [batch, total] with 1 for real tokens. */
  attentionMask: BigInt64Array;
  /** Past keys and values per layer, [batch, kv heads, past, head size]. */
  past: KeyValueTensors;
  logitsToKeep: number;
  /** Tensors to write the presents into (a shared KV buffer); absent: onnxruntime allocates them. */
  presentInto?: KeyValueTensors;
  /**
   * One position per row over a past that is only read ({@link DecoderModel.decodeSteps}): the output's `present` is
   * then just the new position of each row, `[batch, kvHeads, 1, headSize]`, for the caller to store at index
   * `Σ mask - 1` of that row's cache. Needs `sequence` 1 and no `presentInto`.
   */
  decodeStep?: boolean;
  /**
   * Write the logits into a buffer the model keeps for this shape instead of a new array: saves an allocation per
   * step, but the returned logits are only valid until the next run of the same shape.
   */
  reuseLogits?: boolean;
}

/** Keys and values of every layer. */
export interface KeyValueTensors {
  keys: Tensor[];
  values: Tensor[];
}

/** What a decoder run returns: logits [batch, keep, vocab] and the new cache. */
export interface DecoderOutput {
  logits: Float32Array;
  present: KeyValueTensors;
}

/** What the generation loops need from a loaded model. */
export interface DecoderModel {
  readonly manifest: ModelManifest;
  readonly tokenizer: GenerationTokenizer;
  readonly cacheType: CacheType;
  /** Whether presents may be written into the past's buffer; undefined until probed. */
  sharedBufferSupported: boolean | undefined;
  /** Whether runs may be {@link DecoderStep.decodeStep} steps (float32 right-padded builds of this version on). */
  readonly decodeSteps: boolean;
  embedTokens(ids: readonly number[]): Promise<Float32Array>;
  emptyCache(batch: number): KeyValueTensors;
  allocateCache(batch: number, length: number): KeyValueTensors;
  runDecoder(step: DecoderStep): Promise<DecoderOutput>;
}
