/** Architecture of the LLaMA decoder (Ziya-LLaMA-13B and its scaled-down test presets). */
export interface TextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  bosTokenId: number;
  eosTokenId: number;
  padTokenId: number;
}

/** Architecture of the BLIP-2 vision tower, Q-Former and projection. */
export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  qformer: {
    numQueries: number;
    hiddenSize: number;
    intermediateSize: number;
    numLayers: number;
    numHeads: number;
    crossAttentionFrequency: number;
    layerNormEps: number;
  };
  /** Output width of `language_projection`: the decoder's hidden size. */
  projectionSize: number;
}

/**
 * Weight storage of the written graphs. `int4` keeps float32 activations (the CPU's fast path); `int4-fp16` is int4
 * MatMulNBits with float16 activations, scales and KV cache, the int4 form CUDA's GroupQueryAttention can run.
 */
export type ModelDtype = 'fp32' | 'fp16' | 'int4' | 'int4-fp16';

/** A named size for random-weight models. */
export interface Preset {
  text: TextConfig;
  vision: VisionConfig;
}

const llamaSpecialTokens = { bosTokenId: 1, eosTokenId: 2, padTokenId: 0 } as const;

/** The named random-weight sizes: `tiny` for tests, `small` for CPU benchmarks, `ziya-14b` at the real dimensions. */
export const presets = {
  tiny: {
    text: {
      vocabSize: 32000,
      hiddenSize: 64,
      intermediateSize: 176,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositions: 2048,
      ...llamaSpecialTokens,
    },
    vision: {
      imageSize: 224,
      patchSize: 14,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      layerNormEps: 1e-6,
      qformer: {
        numQueries: 32,
        hiddenSize: 48,
        intermediateSize: 96,
        numLayers: 2,
        numHeads: 4,
        crossAttentionFrequency: 2,
        layerNormEps: 1e-12,
      },
      projectionSize: 64,
    },
  },
  small: {
    text: {
      vocabSize: 32000,
      hiddenSize: 1024,
      intermediateSize: 2816,
      numLayers: 8,
      numHeads: 16,
      numKvHeads: 16,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositions: 2048,
      ...llamaSpecialTokens,
    },
    vision: {
      imageSize: 224,
      patchSize: 14,
      hiddenSize: 384,
      intermediateSize: 1536,
      numLayers: 6,
      numHeads: 6,
      layerNormEps: 1e-6,
      qformer: {
        numQueries: 32,
        hiddenSize: 384,
        intermediateSize: 1536,
        numLayers: 4,
        numHeads: 6,
        crossAttentionFrequency: 2,
        layerNormEps: 1e-12,
      },
      projectionSize: 1024,
    },
  },
  'ziya-14b': {
    text: {
      vocabSize: 39424,
      hiddenSize: 5120,
      intermediateSize: 13824,
      numLayers: 40,
      numHeads: 40,
      numKvHeads: 40,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositions: 2048,
      ...llamaSpecialTokens,
    },
    vision: {
      imageSize: 224,
      patchSize: 14,
      hiddenSize: 1408,
      intermediateSize: 6144,
      numLayers: 39,
      numHeads: 16,
      layerNormEps: 1e-6,
      qformer: {
        numQueries: 32,
        hiddenSize: 768,
        intermediateSize: 3072,
        numLayers: 12,
        numHeads: 12,
        crossAttentionFrequency: 2,
        layerNormEps: 1e-12,
      },
      projectionSize: 5120,
    },
  },
} as const satisfies Record<string, Preset>;

/** A preset's name. */
export type PresetName = keyof typeof presets;

/** Head size of the decoder's attention. */
export function headSize(config: TextConfig): number {
  return config.hiddenSize / config.numHeads;
}
