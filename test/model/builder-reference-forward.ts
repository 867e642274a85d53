import { headSize, type TextConfig } from '../../workers/model/config.ts';
import { llamaGlobalTensorNames, llamaLayerTensorNames } from '../../workers/model/weights/llama-weight-specs.ts';
import type { WeightSource } from '../../workers/model/weights/weight-source.ts';

/** y[o] = Σ_i W[o, i] x[i] for a PyTorch-layout weight. */
function linear(weight: Float32Array, input: Float64Array, outFeatures: number): Float64Array {
  const inFeatures = input.length;
  const out = new Float64Array(outFeatures);
  for (let row = 0; row < outFeatures; row++) {
    let sum = 0;
    for (let column = 0; column < inFeatures; column++) sum += weight[row * inFeatures + column]! * input[column]!;
    out[row] = sum;
  }
  return out;
}

function rmsNorm(input: Float64Array, gamma: Float32Array, epsilon: number): Float64Array {
  let squares = 0;
  for (const value of input) squares += value * value;
  const scale = 1 / Math.sqrt(squares / input.length + epsilon);
  return input.map((value, index) => value * scale * gamma[index]!);
}

/** Hugging Face `rotate_half` rotary embedding of one head vector at `position`. */
function rotate(vector: Float64Array, position: number, theta: number): Float64Array {
  const half = vector.length / 2;
  const out = new Float64Array(vector.length);
  for (let index = 0; index < half; index++) {
    const angle = position / theta ** ((2 * index) / vector.length);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    out[index] = vector[index]! * cos - vector[index + half]! * sin;
    out[index + half] = vector[index + half]! * cos + vector[index]! * sin;
  }
  return out;
}

/**
 * A plain float64 LLaMA forward pass over one unpadded sequence, written from the Hugging Face modelling code, as
 * an independent check of the ONNX graph's math. Returns the logits of every position, `[sequence][vocab]`.
 */
export function referenceLogits(
  config: TextConfig,
  weights: WeightSource,
  inputIds: readonly number[],
): Float64Array[] {
  const hidden = config.hiddenSize;
  const head = headSize(config);
  const groups = config.numHeads / config.numKvHeads;
  const embedding = weights.get(llamaGlobalTensorNames.embedding).data;
  let states = inputIds.map((id) => Float64Array.from(embedding.subarray(id * hidden, (id + 1) * hidden)));
  for (let layer = 0; layer < config.numLayers; layer++) {
    const names = llamaLayerTensorNames(layer);
    const get = (name: string) => weights.get(name).data;
    const normed = states.map((state) => rmsNorm(state, get(names.inputNorm), config.rmsNormEps));
    const keyValueSize = config.numKvHeads * head;
    const headsOf = (vector: Float64Array, count: number, position: number) =>
      Array.from({ length: count }, (_, h) =>
        rotate(vector.subarray(h * head, (h + 1) * head), position, config.ropeTheta),
      );
    const queries = normed.map((x, position) =>
      headsOf(linear(get(names.queryProjection), x, hidden), config.numHeads, position),
    );
    const keys = normed.map((x, position) =>
      headsOf(linear(get(names.keyProjection), x, keyValueSize), config.numKvHeads, position),
    );
    const values = normed.map((x) => linear(get(names.valueProjection), x, keyValueSize));
    states = states.map((state, position) => {
      const attended = new Float64Array(hidden);
      for (let h = 0; h < config.numHeads; h++) {
        const kvHead = Math.floor(h / groups);
        const scores = Array.from({ length: position + 1 }, (_, past) => {
          let dot = 0;
          for (let d = 0; d < head; d++) dot += queries[position]![h]![d]! * keys[past]![kvHead]![d]!;
          return dot / Math.sqrt(head);
        });
        const max = Math.max(...scores);
        const exps = scores.map((score) => Math.exp(score - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (let past = 0; past <= position; past++) {
          for (let d = 0; d < head; d++) {
            attended[h * head + d]! += (exps[past]! / total) * values[past]![kvHead * head + d]!;
          }
        }
      }
      const output = linear(get(names.outputProjection), attended, hidden);
      return state.map((value, index) => value + output[index]!);
    });
    states = states.map((state) => {
      const x = rmsNorm(state, get(names.postAttentionNorm), config.rmsNormEps);
      const gate = linear(get(names.gateProjection), x, config.intermediateSize);
      const up = linear(get(names.upProjection), x, config.intermediateSize);
      const product = gate.map((g, index) => (g / (1 + Math.exp(-g))) * up[index]!);
      const down = linear(get(names.downProjection), product, hidden);
      return state.map((value, index) => value + down[index]!);
    });
  }
  const finalNorm = weights.get(llamaGlobalTensorNames.finalNorm).data;
  const languageModelHead = weights.get(llamaGlobalTensorNames.languageModelHead).data;
  return states.map((state) =>
    linear(languageModelHead, rmsNorm(state, finalNorm, config.rmsNormEps), config.vocabSize),
  );
}
