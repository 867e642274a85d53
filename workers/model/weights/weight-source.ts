/** A weight tensor as float32, whatever its stored dtype (bf16/fp16/fp32 are widened on read). */
export interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/**
 * Where a builder reads weights from: seeded random weights or a checkpoint on disk. Names are the Hugging Face
 * parameter names (`model.layers.0.self_attn.q_proj.weight`, `vision_model.encoder.layers.0.self_attn.qkv.weight`,
 * `query_tokens`, `qformer.…`, `language_projection.weight`). Linear weights keep PyTorch's `[out, in]` layout.
 * Tensors are read one at a time, so a builder holds at most a few in memory.
 */
export interface WeightSource {
  /** Human-readable origin, used in error messages (a directory, or `random tiny seed 0`). */
  readonly description: string;
  has(name: string): boolean;
  /** Reads one tensor; throws `MissingTensorError` naming the tensor and the file(s) searched when absent. */
  get(name: string): FloatTensor;
  /** Releases file handles. */
  close(): void;
}

/** A checkpoint lacks a tensor the builder needs, or has it with the wrong shape. */
export class MissingTensorError extends Error {
  override readonly name = 'MissingTensorError';
  constructor(
    readonly tensor: string,
    readonly source: string,
    detail = 'not found',
  ) {
    super(`tensor ${tensor} ${detail} in ${source}`);
  }
}
