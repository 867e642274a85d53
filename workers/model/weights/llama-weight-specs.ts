import { headSize, type PresetName, presets, type TextConfig } from '../config.ts';
import { type RandomTensorSpec, RandomWeightSource } from './random-weights.ts';

/** Hugging Face parameter names of one LLaMA decoder layer. */
export function llamaLayerTensorNames(layer: number) {
  const prefix = `model.layers.${layer}`;
  return {
    queryProjection: `${prefix}.self_attn.q_proj.weight`,
    keyProjection: `${prefix}.self_attn.k_proj.weight`,
    valueProjection: `${prefix}.self_attn.v_proj.weight`,
    outputProjection: `${prefix}.self_attn.o_proj.weight`,
    gateProjection: `${prefix}.mlp.gate_proj.weight`,
    upProjection: `${prefix}.mlp.up_proj.weight`,
    downProjection: `${prefix}.mlp.down_proj.weight`,
    inputNorm: `${prefix}.input_layernorm.weight`,
    postAttentionNorm: `${prefix}.post_attention_layernorm.weight`,
  } as const;
}

/** Hugging Face names of the tensors outside the layers. */
export const llamaGlobalTensorNames = {
  embedding: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  languageModelHead: 'lm_head.weight',
} as const;

/**
 * Shapes and random initialisation of every LLaMA tensor, in checkpoint order. The scales keep activations near
 * unit size through the layers and make the logits spread widely (std ≈ 4): the llama.cpp oracle compares greedy
 * continuations, and near-ties between the top two logits would flip on rounding differences alone.
 */
export function llamaWeightSpecs(config: TextConfig): Map<string, RandomTensorSpec> {
  const { hiddenSize, intermediateSize, vocabSize } = config;
  const keyValueSize = config.numKvHeads * headSize(config);
  const linear = (outFeatures: number, inFeatures: number): RandomTensorSpec => ({
    dims: [outFeatures, inFeatures],
    init: 'normal',
    std: 1 / Math.sqrt(inFeatures),
  });
  const norm: RandomTensorSpec = { dims: [hiddenSize], init: 'ones', std: 0.1 };
  const specs = new Map<string, RandomTensorSpec>();
  specs.set(llamaGlobalTensorNames.embedding, { dims: [vocabSize, hiddenSize], init: 'normal', std: 1 });
  for (let layer = 0; layer < config.numLayers; layer++) {
    const names = llamaLayerTensorNames(layer);
    specs.set(names.queryProjection, linear(hiddenSize, hiddenSize));
    specs.set(names.keyProjection, linear(keyValueSize, hiddenSize));
    specs.set(names.valueProjection, linear(keyValueSize, hiddenSize));
    specs.set(names.outputProjection, linear(hiddenSize, hiddenSize));
    specs.set(names.gateProjection, linear(intermediateSize, hiddenSize));
    specs.set(names.upProjection, linear(intermediateSize, hiddenSize));
    specs.set(names.downProjection, linear(hiddenSize, intermediateSize));
    specs.set(names.inputNorm, norm);
    specs.set(names.postAttentionNorm, norm);
  }
  specs.set(llamaGlobalTensorNames.finalNorm, norm);
  specs.set(llamaGlobalTensorNames.languageModelHead, {
    dims: [vocabSize, hiddenSize],
    init: 'normal',
    std: 4 / Math.sqrt(hiddenSize),
  });
  return specs;
}

/** Seeded random LLaMA weights at a preset's text size. */
export function randomTextWeights(preset: PresetName, seed: number): RandomWeightSource {
  return new RandomWeightSource(seed, llamaWeightSpecs(presets[preset].text), `${preset} text`);
}
