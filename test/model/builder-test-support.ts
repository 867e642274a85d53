import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headSize, presets, type TextConfig } from '../../workers/model/config.ts';
import { decoderTensorNames } from '../../workers/model/decoder/decoder-contract.ts';
import { int4BlockSize } from '../../workers/model/decoder/linear-projection.ts';
import { toBfloat16, toFloat16 } from '../../workers/model/quantize/float16.ts';
import { dequantizeInt4, quantizeInt4 } from '../../workers/model/quantize/int4-block-quantizer.ts';
import { randomTextWeights } from '../../workers/model/weights/llama-weight-specs.ts';
import type { FloatTensor, WeightSource } from '../../workers/model/weights/weight-source.ts';
import { createSession, type Session, type Tensor, tensor } from '../../workers/runtime/onnx-session.ts';

/** Storage of one tensor in a test checkpoint. */
export type StoredDtype = 'F32' | 'F16' | 'BF16';

/**
 * Writes a Hugging Face LLaMA checkpoint directory of the tiny preset (config.json, one F32 model.safetensors with
 * the seed-0 random weights) and copies `tokenizerJson` into it.
 */
export function writeTinyLlamaCheckpoint(directory: string, tokenizerJson: string): string {
  mkdirSync(directory);
  writeHfConfig(directory, presets.tiny.text);
  const textWeights = randomTextWeights('tiny', 0);
  writeSafetensors(
    join(directory, 'model.safetensors'),
    textWeights.names().map((name) => ({ name, dtype: 'F32' as const, tensor: textWeights.get(name) })),
  );
  copyFileSync(tokenizerJson, join(directory, 'tokenizer.json'));
  return directory;
}

/** Writes one `.safetensors` file (header padded to 8 bytes, as the Rust writer does). */
export function writeSafetensors(
  path: string,
  tensors: readonly { name: string; dtype: StoredDtype; tensor: FloatTensor }[],
): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { name, dtype, tensor: value } of tensors) {
    const data = dtype === 'F32' ? value.data : dtype === 'F16' ? toFloat16(value.data) : toBfloat16(value.data);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape: value.dims, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([prefix, Buffer.from(json, 'utf8'), ...chunks]));
}

/** Writes a Hugging Face `config.json` for a LLaMA with this architecture. */
export function writeHfConfig(directory: string, config: TextConfig, overrides: Record<string, unknown> = {}): void {
  const json = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    max_position_embeddings: config.maxPositions,
    vocab_size: config.vocabSize,
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    pad_token_id: config.padTokenId,
    torch_dtype: 'bfloat16',
    ...overrides,
  };
  writeFileSync(join(directory, 'config.json'), JSON.stringify(json, null, 2));
}

/**
 * The fp32 weights an int4 build's 4-bit codes stand for: every projection (and lm_head) of `inner` quantized and
 * dequantized the way the builder does; what an int4 graph should compute, up to its activation precision.
 */
export function dequantizedInt4(inner: WeightSource): WeightSource {
  const projection = (name: string) => name.endsWith('_proj.weight') || name === 'lm_head.weight';
  return {
    description: `dequantized ${inner.description}`,
    has: (name) => inner.has(name),
    get: (name) => {
      const value = inner.get(name);
      if (!projection(name)) return value;
      const [out, inFeatures] = value.dims as [number, number];
      return { dims: value.dims, data: dequantizeInt4(quantizeInt4(value.data, out, inFeatures, int4BlockSize)) };
    },
    close: () => {},
  };
}

/** A weight source returning another's tensors rounded as a checkpoint would store them. */
export function roundedWeights(inner: WeightSource, dtypeOf: (name: string) => StoredDtype): WeightSource {
  const round = (name: string, value: FloatTensor): FloatTensor => {
    const dtype = dtypeOf(name);
    if (dtype === 'F32') return value;
    const data = new Float32Array(value.data.length);
    if (dtype === 'BF16') {
      const bits = toBfloat16(value.data);
      new Uint32Array(data.buffer).set(Array.from(bits, (half) => half << 16));
    } else {
      const bits = toFloat16(value.data);
      for (let index = 0; index < bits.length; index++) {
        // Decoding through a one-element float16 checkpoint would be circular; widen via float16 math instead.
        data[index] = halfToFloat(bits[index]!);
      }
    }
    return { dims: value.dims, data };
  };
  return {
    description: `${inner.description}, rounded`,
    has: (name) => inner.has(name),
    get: (name) => round(name, inner.get(name)),
    close: () => inner.close(),
  };
}

function halfToFloat(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Runs a decoder session on one batch with an empty (or given) cache and returns logits and the new cache. */
export async function runDecoder(
  session: Session,
  config: TextConfig,
  options: {
    embeds: Float32Array;
    batch: number;
    sequence: number;
    mask: readonly number[];
    logitsToKeep: number;
    past?: Record<string, Tensor>;
    cacheType?: 'float32' | 'float16';
  },
): Promise<{ logits: Float32Array; outputs: Record<string, Tensor> }> {
  const cacheType = options.cacheType ?? 'float32';
  const feeds: Record<string, Tensor> = {
    [decoderTensorNames.inputsEmbeds]: tensor('float32', options.embeds, [
      options.batch,
      options.sequence,
      config.hiddenSize,
    ]),
    [decoderTensorNames.attentionMask]: tensor('int64', BigInt64Array.from(options.mask, BigInt), [
      options.batch,
      options.mask.length / options.batch,
    ]),
    [decoderTensorNames.numLogitsToKeep]: tensor('int64', BigInt64Array.from([BigInt(options.logitsToKeep)]), []),
  };
  for (let layer = 0; layer < config.numLayers; layer++) {
    const empty = () =>
      tensor(cacheType, cacheType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [
        options.batch,
        config.numKvHeads,
        0,
        headSize(config),
      ]);
    feeds[decoderTensorNames.pastKey(layer)] = options.past?.[decoderTensorNames.presentKey(layer)] ?? empty();
    feeds[decoderTensorNames.pastValue(layer)] = options.past?.[decoderTensorNames.presentValue(layer)] ?? empty();
  }
  // float32 right-padded builds take decode_step: false is the GroupQueryAttention path these tests check.
  if (session.inputNames.includes(decoderTensorNames.decodeStep)) {
    feeds[decoderTensorNames.decodeStep] = tensor('bool', Uint8Array.of(0), []);
  }
  const outputs = (await session.run(feeds)) as Record<string, Tensor>;
  return { logits: outputs[decoderTensorNames.logits]!.data as Float32Array, outputs };
}

/** Embeddings of `ids` looked up in a `[vocab, hidden]` table. */
export function embedIds(table: Float32Array, hidden: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  ids.forEach((id, position) => {
    out.set(table.subarray(id * hidden, (id + 1) * hidden), position * hidden);
  });
  return out;
}

/** Loads a graph on the CPU. */
export function cpuSession(path: string): Promise<Session> {
  return createSession(path, { executionProvider: 'cpu', threads: 1 });
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let index = 0; index < a.length; index++) max = Math.max(max, Math.abs(a[index]! - b[index]!));
  return max;
}

/** Root-mean-square of `a - b` divided by the root-mean-square of `b`. */
export function relativeRmsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let error = 0;
  let norm = 0;
  for (let index = 0; index < b.length; index++) {
    error += (a[index]! - b[index]!) ** 2;
    norm += b[index]! ** 2;
  }
  return Math.sqrt(error / norm);
}
