import { headSize, type TextConfig } from '../config.ts';
import { llamaGlobalTensorNames, llamaLayerTensorNames } from '../weights/llama-weight-specs.ts';
import type { WeightSource } from '../weights/weight-source.ts';
import type { GgufVocabulary } from './gguf-vocabulary.ts';
import { type GgmlTypeName, type GgufTensor, type GgufValue, writeGguf } from './gguf-writer.ts';
import { q4_0BlockLength, quantizeQ4_0 } from './quantize-q4-0.ts';

/** How the linear weights are stored: all float32, or Q4_0 (norms stay float32, as llama.cpp keeps them). */
export type GgufFileType = 'f32' | 'q4_0';

/** `general.file_type` values (`llama_ftype`). */
const fileTypeCode = { f32: 0, q4_0: 2 } as const satisfies Record<GgufFileType, number>;

/** Options of {@link writeLlamaGguf}. */
export interface LlamaGgufOptions {
  /** File to write. */
  path: string;
  config: TextConfig;
  /** Hugging Face-named weights (`model.layers.0.self_attn.q_proj.weight`, `[out, in]` linear layout). */
  weights: WeightSource;
  vocabulary: GgufVocabulary;
  fileType: GgufFileType;
  /** `general.name`. @defaultValue `'ziya-visual-bot llama'` */
  name?: string;
}

/**
 * Reorders the rows of a q/k projection from Hugging Face's rotate-half RoPE layout (each head's first half pairs
 * with its second half) to llama.cpp's interleaved layout (adjacent pairs), like `LlamaModel.permute` in llama.cpp's
 * convert_hf_to_gguf.py: per head, row s·D/2 + i moves to row 2i + s.
 */
export function permuteForInterleavedRope(weight: Float32Array, heads: number, inFeatures: number): Float32Array {
  const rowsPerHead = weight.length / inFeatures / heads;
  const halfHead = rowsPerHead / 2;
  const out = new Float32Array(weight.length);
  for (let head = 0; head < heads; head++) {
    for (let half = 0; half < 2; half++) {
      for (let index = 0; index < halfHead; index++) {
        const from = (head * rowsPerHead + half * halfHead + index) * inFeatures;
        const to = (head * rowsPerHead + 2 * index + half) * inFeatures;
        out.set(weight.subarray(from, from + inFeatures), to);
      }
    }
  }
  return out;
}

function metadata(options: LlamaGgufOptions): Map<string, GgufValue> {
  const { config, vocabulary } = options;
  const entries: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: options.name ?? 'ziya-visual-bot llama' }],
    ['general.file_type', { type: 'uint32', value: fileTypeCode[options.fileType] }],
    ['llama.context_length', { type: 'uint32', value: config.maxPositions }],
    ['llama.embedding_length', { type: 'uint32', value: config.hiddenSize }],
    ['llama.block_count', { type: 'uint32', value: config.numLayers }],
    ['llama.feed_forward_length', { type: 'uint32', value: config.intermediateSize }],
    ['llama.rope.dimension_count', { type: 'uint32', value: headSize(config) }],
    ['llama.attention.head_count', { type: 'uint32', value: config.numHeads }],
    ['llama.attention.head_count_kv', { type: 'uint32', value: config.numKvHeads }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'float32', value: config.rmsNormEps }],
    ['llama.rope.freq_base', { type: 'float32', value: config.ropeTheta }],
    ['llama.vocab_size', { type: 'uint32', value: config.vocabSize }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'stringArray', value: vocabulary.tokens }],
    ['tokenizer.ggml.scores', { type: 'float32Array', value: vocabulary.scores }],
    ['tokenizer.ggml.token_type', { type: 'int32Array', value: vocabulary.tokenTypes }],
    ['tokenizer.ggml.bos_token_id', { type: 'uint32', value: vocabulary.bosTokenId }],
    ['tokenizer.ggml.eos_token_id', { type: 'uint32', value: vocabulary.eosTokenId }],
    ['tokenizer.ggml.unknown_token_id', { type: 'uint32', value: vocabulary.unknownTokenId }],
    ['tokenizer.ggml.padding_token_id', { type: 'uint32', value: vocabulary.padTokenId }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
  return new Map(entries);
}

/**
 * Writes a LLaMA decoder's weights as a GGUF file llama.cpp loads: the independent implementation our decoder is
 * checked against, and the baseline of the decode benchmark. Tensors are read, converted and written one at a time.
 */
export function writeLlamaGguf(options: LlamaGgufOptions): { bytes: number } {
  const { config, weights } = options;
  const keyValueRows = config.numKvHeads * headSize(config);
  const matrixType = (inFeatures: number): GgmlTypeName =>
    options.fileType === 'q4_0' && inFeatures % q4_0BlockLength === 0 ? 'q4_0' : 'f32';
  const encode = (values: Float32Array, type: GgmlTypeName): Uint8Array =>
    type === 'q4_0' ? quantizeQ4_0(values) : new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const read = (name: string, dims: readonly number[]): Float32Array => {
    const tensor = weights.get(name);
    if (tensor.dims.length !== dims.length || tensor.dims.some((size, axis) => size !== dims[axis])) {
      throw new Error(`tensor ${name} has shape [${tensor.dims.join(', ')}], expected [${dims.join(', ')}]`);
    }
    return tensor.data;
  };
  const matrix = (
    ggmlName: string,
    sourceName: string,
    dims: readonly [number, number],
    transform: (values: Float32Array) => Float32Array = (values) => values,
  ): GgufTensor => {
    const type = matrixType(dims[1]);
    return { name: ggmlName, dims, type, produce: () => encode(transform(read(sourceName, dims)), type) };
  };
  const vector = (ggmlName: string, sourceName: string): GgufTensor => ({
    name: ggmlName,
    dims: [config.hiddenSize],
    type: 'f32',
    produce: () => encode(read(sourceName, [config.hiddenSize]), 'f32'),
  });
  const { hiddenSize, intermediateSize, vocabSize } = config;
  const tensors: GgufTensor[] = [
    matrix('token_embd.weight', llamaGlobalTensorNames.embedding, [vocabSize, hiddenSize]),
  ];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const names = llamaLayerTensorNames(layer);
    const prefix = `blk.${layer}`;
    tensors.push(
      vector(`${prefix}.attn_norm.weight`, names.inputNorm),
      matrix(`${prefix}.attn_q.weight`, names.queryProjection, [hiddenSize, hiddenSize], (values) =>
        permuteForInterleavedRope(values, config.numHeads, hiddenSize),
      ),
      matrix(`${prefix}.attn_k.weight`, names.keyProjection, [keyValueRows, hiddenSize], (values) =>
        permuteForInterleavedRope(values, config.numKvHeads, hiddenSize),
      ),
      matrix(`${prefix}.attn_v.weight`, names.valueProjection, [keyValueRows, hiddenSize]),
      matrix(`${prefix}.attn_output.weight`, names.outputProjection, [hiddenSize, hiddenSize]),
      vector(`${prefix}.ffn_norm.weight`, names.postAttentionNorm),
      matrix(`${prefix}.ffn_gate.weight`, names.gateProjection, [intermediateSize, hiddenSize]),
      matrix(`${prefix}.ffn_up.weight`, names.upProjection, [intermediateSize, hiddenSize]),
      matrix(`${prefix}.ffn_down.weight`, names.downProjection, [hiddenSize, intermediateSize]),
    );
  }
  tensors.push(
    vector('output_norm.weight', llamaGlobalTensorNames.finalNorm),
    matrix('output.weight', llamaGlobalTensorNames.languageModelHead, [vocabSize, hiddenSize]),
  );
  return writeGguf(options.path, metadata(options), tensors);
}
