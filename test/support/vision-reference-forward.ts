// An oracle for vision.onnx, written from Hugging Face's modeling_blip_2.py (Blip2VisionEmbeddings, Blip2Attention,
// Blip2EncoderLayer, Blip2VisionModel, Blip2QFormerModel/Layer, language_projection), not from our graph builder:
// plain float64 loops over row-major arrays, one function per PyTorch module.
import type { VisionConfig } from '../../workers/model/config.ts';
import type { WeightSource } from '../../workers/model/weights/weight-source.ts';

/** A row-major float64 matrix `[rows, columns]`. */
interface Matrix {
  rows: number;
  columns: number;
  data: Float64Array;
}

/** Options of the reference forward. */
export interface ReferenceOptions {
  /** Epsilon of the vision tower's LayerNorms; defaults to `config.layerNormEps`. */
  visionLayerNormEps?: number;
}

function weight(weights: WeightSource, name: string): Float64Array {
  return Float64Array.from(weights.get(name).data);
}

/** `nn.Linear`: `x · Wᵀ + b` with W stored `[out, in]`. */
function linear(input: Matrix, weights: WeightSource, weightName: string, bias: Float64Array | null): Matrix {
  const tensor = weights.get(weightName);
  const [outFeatures, inFeatures] = tensor.dims as [number, number];
  if (inFeatures !== input.columns) throw new Error(`${weightName}: in ${inFeatures} ≠ ${input.columns}`);
  const out = new Float64Array(input.rows * outFeatures);
  for (let row = 0; row < input.rows; row++) {
    for (let output = 0; output < outFeatures; output++) {
      let sum = bias ? (bias[output] ?? 0) : 0;
      for (let index = 0; index < inFeatures; index++) {
        sum += (input.data[row * inFeatures + index] ?? 0) * (tensor.data[output * inFeatures + index] ?? 0);
      }
      out[row * outFeatures + output] = sum;
    }
  }
  return { rows: input.rows, columns: outFeatures, data: out };
}

function linearNamed(input: Matrix, weights: WeightSource, prefix: string): Matrix {
  return linear(input, weights, `${prefix}.weight`, weight(weights, `${prefix}.bias`));
}

/** `nn.LayerNorm` over the last dimension: `(x − mean) / sqrt(var + eps) · γ + β`, biased variance. */
function layerNorm(input: Matrix, weights: WeightSource, prefix: string, epsilon: number): Matrix {
  const gamma = weight(weights, `${prefix}.weight`);
  const beta = weight(weights, `${prefix}.bias`);
  const out = new Float64Array(input.data.length);
  const width = input.columns;
  for (let row = 0; row < input.rows; row++) {
    let mean = 0;
    for (let index = 0; index < width; index++) mean += input.data[row * width + index] ?? 0;
    mean /= width;
    let variance = 0;
    for (let index = 0; index < width; index++) variance += ((input.data[row * width + index] ?? 0) - mean) ** 2;
    variance /= width;
    const scale = 1 / Math.sqrt(variance + epsilon);
    for (let index = 0; index < width; index++) {
      const normalized = ((input.data[row * width + index] ?? 0) - mean) * scale;
      out[row * width + index] = normalized * (gamma[index] ?? 0) + (beta[index] ?? 0);
    }
  }
  return { rows: input.rows, columns: width, data: out };
}

/** erf with |error| < 1.2e-7 would be too coarse for a float64 oracle: this series/continued fraction is ~1e-15. */
export function erf(x: number): number {
  const absolute = Math.abs(x);
  if (absolute < 2.5) {
    // Maclaurin series: erf(x) = 2/√π Σ (−1)ⁿ x^(2n+1) / (n! (2n+1)).
    let term = absolute;
    let sum = absolute;
    for (let n = 1; n < 100; n++) {
      term *= (-absolute * absolute) / n;
      const contribution = term / (2 * n + 1);
      sum += contribution;
      if (Math.abs(contribution) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction for erfc (Lentz), accurate for |x| ≥ 2.5.
  let fraction = 0;
  for (let n = 60; n >= 1; n--) fraction = n / 2 / (absolute + fraction);
  const complement = Math.exp(-absolute * absolute) / Math.sqrt(Math.PI) / (absolute + fraction);
  return Math.sign(x) * (1 - complement);
}

/** `nn.GELU()` (exact, erf-based): the `gelu` activation of BLIP-2's vision MLP and Q-Former FFN. */
function gelu(input: Matrix): Matrix {
  return { ...input, data: input.data.map((value) => 0.5 * value * (1 + erf(value / Math.SQRT2))) };
}

function add(left: Matrix, right: Matrix): Matrix {
  return { ...left, data: left.data.map((value, index) => value + (right.data[index] ?? 0)) };
}

/** Multi-head softmax(q·kᵀ/√d)·v with q `[Sq, H]`, k and v `[Sk, H]`, no mask. */
function multiHeadAttention(query: Matrix, key: Matrix, value: Matrix, numHeads: number): Matrix {
  const width = query.columns;
  const headSize = width / numHeads;
  const out = new Float64Array(query.rows * width);
  const scores = new Float64Array(key.rows);
  for (let head = 0; head < numHeads; head++) {
    for (let row = 0; row < query.rows; row++) {
      let maximum = Number.NEGATIVE_INFINITY;
      for (let column = 0; column < key.rows; column++) {
        let dot = 0;
        for (let index = 0; index < headSize; index++) {
          const offset = head * headSize + index;
          dot += (query.data[row * width + offset] ?? 0) * (key.data[column * width + offset] ?? 0);
        }
        scores[column] = dot / Math.sqrt(headSize);
        maximum = Math.max(maximum, scores[column] ?? 0);
      }
      let total = 0;
      for (let column = 0; column < key.rows; column++) {
        scores[column] = Math.exp((scores[column] ?? 0) - maximum);
        total += scores[column] ?? 0;
      }
      for (let index = 0; index < headSize; index++) {
        const offset = head * headSize + index;
        let sum = 0;
        for (let column = 0; column < key.rows; column++) {
          sum += ((scores[column] ?? 0) / total) * (value.data[column * width + offset] ?? 0);
        }
        out[row * width + offset] = sum;
      }
    }
  }
  return { rows: query.rows, columns: width, data: out };
}

/** `Blip2VisionEmbeddings`: Conv2d(3, H, kernel=stride=patch) patches, class token first, + position embedding. */
function visionEmbeddings(config: VisionConfig, weights: WeightSource, pixels: Float32Array, image: number): Matrix {
  const { hiddenSize, imageSize, patchSize } = config;
  const grid = imageSize / patchSize;
  const tokens = grid * grid + 1;
  const convWeight = weights.get('vision_model.embeddings.patch_embedding.weight').data;
  const convBias = weights.get('vision_model.embeddings.patch_embedding.bias').data;
  const classEmbedding = weights.get('vision_model.embeddings.class_embedding').data;
  const position = weights.get('vision_model.embeddings.position_embedding').data;
  const out = new Float64Array(tokens * hiddenSize);
  const imageOffset = image * 3 * imageSize * imageSize;
  for (let channel = 0; channel < hiddenSize; channel++) out[channel] = classEmbedding[channel] ?? 0;
  for (let patchRow = 0; patchRow < grid; patchRow++) {
    for (let patchColumn = 0; patchColumn < grid; patchColumn++) {
      const token = 1 + patchRow * grid + patchColumn; // flatten(2) is row-major over the patch grid
      for (let channel = 0; channel < hiddenSize; channel++) {
        let sum = convBias[channel] ?? 0;
        for (let color = 0; color < 3; color++) {
          for (let y = 0; y < patchSize; y++) {
            for (let x = 0; x < patchSize; x++) {
              const pixel =
                pixels[
                  imageOffset +
                    color * imageSize * imageSize +
                    (patchRow * patchSize + y) * imageSize +
                    patchColumn * patchSize +
                    x
                ] ?? 0;
              sum += pixel * (convWeight[((channel * 3 + color) * patchSize + y) * patchSize + x] ?? 0);
            }
          }
        }
        out[token * hiddenSize + channel] = sum;
      }
    }
  }
  for (let index = 0; index < out.length; index++) out[index] = (out[index] ?? 0) + (position[index] ?? 0);
  return { rows: tokens, columns: hiddenSize, data: out };
}

/** `Blip2EncoderLayer` with `Blip2Attention` (qkv without bias; bias = cat(q_bias, zeros, v_bias)). */
function visionEncoderLayer(
  config: VisionConfig,
  weights: WeightSource,
  hidden: Matrix,
  layer: number,
  epsilon: number,
) {
  const prefix = `vision_model.encoder.layers.${layer}`;
  const width = config.hiddenSize;
  const normed = layerNorm(hidden, weights, `${prefix}.layer_norm1`, epsilon);
  const qkvBias = new Float64Array(3 * width);
  qkvBias.set(weight(weights, `${prefix}.self_attn.q_bias`), 0);
  qkvBias.set(weight(weights, `${prefix}.self_attn.v_bias`), 2 * width);
  const qkv = linear(normed, weights, `${prefix}.self_attn.qkv.weight`, qkvBias);
  // reshape(B, S, 3, heads, head_dim): the first `width` columns are q, then k, then v.
  const part = (index: number): Matrix => {
    const data = new Float64Array(hidden.rows * width);
    for (let row = 0; row < hidden.rows; row++) {
      for (let column = 0; column < width; column++) {
        data[row * width + column] = qkv.data[row * 3 * width + index * width + column] ?? 0;
      }
    }
    return { rows: hidden.rows, columns: width, data };
  };
  const context = multiHeadAttention(part(0), part(1), part(2), config.numHeads);
  const afterAttention = add(hidden, linearNamed(context, weights, `${prefix}.self_attn.projection`));
  const normed2 = layerNorm(afterAttention, weights, `${prefix}.layer_norm2`, epsilon);
  const mlp = linearNamed(gelu(linearNamed(normed2, weights, `${prefix}.mlp.fc1`)), weights, `${prefix}.mlp.fc2`);
  return add(afterAttention, mlp);
}

/** `Blip2QFormerAttention`: BERT self-attention (biased q/k/v) then `Blip2QFormerSelfOutput` (dense, add, LayerNorm). */
function qformerAttention(
  config: VisionConfig,
  weights: WeightSource,
  hidden: Matrix,
  keyValueSource: Matrix,
  prefix: string,
): Matrix {
  const query = linearNamed(hidden, weights, `${prefix}.attention.query`);
  const key = linearNamed(keyValueSource, weights, `${prefix}.attention.key`);
  const value = linearNamed(keyValueSource, weights, `${prefix}.attention.value`);
  const context = multiHeadAttention(query, key, value, config.qformer.numHeads);
  const dense = linearNamed(context, weights, `${prefix}.output.dense`);
  return layerNorm(add(dense, hidden), weights, `${prefix}.output.LayerNorm`, config.qformer.layerNormEps);
}

/**
 * The BLIP-2 image path of `Blip2ForConditionalGeneration.generate` up to the language model: vision model
 * (embeddings, encoder, post_layernorm), Q-Former on `query_tokens` with cross-attention to the image embeddings,
 * and `language_projection`. Returns `[batch, numQueries, projectionSize]` in float64.
 */
export function referenceVisionForward(
  config: VisionConfig,
  weights: WeightSource,
  pixels: Float32Array,
  batch: number,
  options: ReferenceOptions = {},
): Float64Array {
  const epsilon = options.visionLayerNormEps ?? config.layerNormEps;
  const { numQueries } = config.qformer;
  const out = new Float64Array(batch * numQueries * config.projectionSize);
  for (let image = 0; image < batch; image++) {
    let hidden = visionEmbeddings(config, weights, pixels, image);
    for (let layer = 0; layer < config.numLayers; layer++) {
      hidden = visionEncoderLayer(config, weights, hidden, layer, epsilon);
    }
    const imageEmbeds = layerNorm(hidden, weights, 'vision_model.post_layernorm', epsilon);
    let queries: Matrix = {
      rows: numQueries,
      columns: config.qformer.hiddenSize,
      data: weight(weights, 'query_tokens'),
    };
    queries = layerNorm(queries, weights, 'qformer.layernorm', config.qformer.layerNormEps);
    for (let layer = 0; layer < config.qformer.numLayers; layer++) {
      const prefix = `qformer.encoder.layer.${layer}`;
      queries = qformerAttention(config, weights, queries, queries, `${prefix}.attention`);
      if (layer % config.qformer.crossAttentionFrequency === 0) {
        queries = qformerAttention(config, weights, queries, imageEmbeds, `${prefix}.crossattention`);
      }
      const intermediate = gelu(linearNamed(queries, weights, `${prefix}.intermediate_query.dense`));
      const output = linearNamed(intermediate, weights, `${prefix}.output_query.dense`);
      queries = layerNorm(
        add(output, queries),
        weights,
        `${prefix}.output_query.LayerNorm`,
        config.qformer.layerNormEps,
      );
    }
    const projected = linearNamed(queries, weights, 'language_projection');
    out.set(projected.data, image * numQueries * config.projectionSize);
  }
  return out;
}
