import { type PresetName, presets, type VisionConfig } from '../config.ts';
import { type RandomTensorSpec, RandomWeightSource } from './random-weights.ts';

/** Hugging Face parameter names of one BLIP-2 vision encoder layer (`Blip2EncoderLayer`). */
export function visionLayerTensorNames(layer: number) {
  const prefix = `vision_model.encoder.layers.${layer}`;
  return {
    norm1Weight: `${prefix}.layer_norm1.weight`,
    norm1Bias: `${prefix}.layer_norm1.bias`,
    qkvWeight: `${prefix}.self_attn.qkv.weight`,
    queryBias: `${prefix}.self_attn.q_bias`,
    valueBias: `${prefix}.self_attn.v_bias`,
    /** The combined `[q, zeros, v]` bias recent transformers versions save instead of `q_bias` / `v_bias`. */
    qkvBias: `${prefix}.self_attn.qkv.bias`,
    projectionWeight: `${prefix}.self_attn.projection.weight`,
    projectionBias: `${prefix}.self_attn.projection.bias`,
    norm2Weight: `${prefix}.layer_norm2.weight`,
    norm2Bias: `${prefix}.layer_norm2.bias`,
    fc1Weight: `${prefix}.mlp.fc1.weight`,
    fc1Bias: `${prefix}.mlp.fc1.bias`,
    fc2Weight: `${prefix}.mlp.fc2.weight`,
    fc2Bias: `${prefix}.mlp.fc2.bias`,
  } as const;
}

/** Names of one BERT-style attention block of the Q-Former (`attention` or `crossattention`). */
export function qformerAttentionTensorNames(layer: number, kind: 'attention' | 'crossattention') {
  const prefix = `qformer.encoder.layer.${layer}.${kind}`;
  return {
    queryWeight: `${prefix}.attention.query.weight`,
    queryBias: `${prefix}.attention.query.bias`,
    keyWeight: `${prefix}.attention.key.weight`,
    keyBias: `${prefix}.attention.key.bias`,
    valueWeight: `${prefix}.attention.value.weight`,
    valueBias: `${prefix}.attention.value.bias`,
    outputWeight: `${prefix}.output.dense.weight`,
    outputBias: `${prefix}.output.dense.bias`,
    normWeight: `${prefix}.output.LayerNorm.weight`,
    normBias: `${prefix}.output.LayerNorm.bias`,
  } as const;
}

/** Names of the query-token feed-forward block of one Q-Former layer (`intermediate_query`, `output_query`). */
export function qformerFeedForwardTensorNames(layer: number) {
  const prefix = `qformer.encoder.layer.${layer}`;
  return {
    intermediateWeight: `${prefix}.intermediate_query.dense.weight`,
    intermediateBias: `${prefix}.intermediate_query.dense.bias`,
    outputWeight: `${prefix}.output_query.dense.weight`,
    outputBias: `${prefix}.output_query.dense.bias`,
    normWeight: `${prefix}.output_query.LayerNorm.weight`,
    normBias: `${prefix}.output_query.LayerNorm.bias`,
  } as const;
}

/** Names of the BLIP-2 tensors outside the layers. */
export const blip2GlobalTensorNames = {
  classEmbedding: 'vision_model.embeddings.class_embedding',
  patchWeight: 'vision_model.embeddings.patch_embedding.weight',
  patchBias: 'vision_model.embeddings.patch_embedding.bias',
  positionEmbedding: 'vision_model.embeddings.position_embedding',
  postNormWeight: 'vision_model.post_layernorm.weight',
  postNormBias: 'vision_model.post_layernorm.bias',
  queryTokens: 'query_tokens',
  qformerNormWeight: 'qformer.layernorm.weight',
  qformerNormBias: 'qformer.layernorm.bias',
  projectionWeight: 'language_projection.weight',
  projectionBias: 'language_projection.bias',
} as const;

/** True when Q-Former layer `layer` has cross-attention to the image (`layer_idx % cross_attention_frequency == 0`). */
export function hasCrossAttention(config: VisionConfig, layer: number): boolean {
  return layer % config.qformer.crossAttentionFrequency === 0;
}

/** Number of image tokens the vision tower produces: one per patch plus the class token. */
export function imageTokenCount(config: VisionConfig): number {
  return (config.imageSize / config.patchSize) ** 2 + 1;
}

/**
 * Shapes and random initialisation of every BLIP-2 vision, Q-Former and projection tensor, in checkpoint order.
 * Linear weights are N(0, 1/fan-in) (outputs of residual branches half that), so attention is far from uniform and
 * activations stay near unit size through 39 layers; biases and LayerNorm affine parameters are visibly non-trivial
 * so a mis-wired bias shows up in the oracle test. Embeddings are small (std 0.02, as in BLIP-2's own init), which
 * keeps the first LayerNorm's input variance low enough for its epsilon to matter measurably.
 */
export function blip2WeightSpecs(config: VisionConfig): Map<string, RandomTensorSpec> {
  const { hiddenSize, intermediateSize, patchSize } = config;
  const query = config.qformer;
  const linear = (outFeatures: number, inFeatures: number, scale = 1): RandomTensorSpec => ({
    dims: [outFeatures, inFeatures],
    init: 'normal',
    std: scale / Math.sqrt(inFeatures),
  });
  const bias = (size: number): RandomTensorSpec => ({ dims: [size], init: 'normal', std: 0.02 });
  const normWeight = (size: number): RandomTensorSpec => ({ dims: [size], init: 'ones', std: 0.1 });
  const normBias = (size: number): RandomTensorSpec => ({ dims: [size], init: 'normal', std: 0.05 });
  const names = blip2GlobalTensorNames;
  const specs = new Map<string, RandomTensorSpec>();
  specs.set(names.classEmbedding, { dims: [1, 1, hiddenSize], init: 'normal', std: 0.02 });
  specs.set(names.patchWeight, { dims: [hiddenSize, 3, patchSize, patchSize], init: 'normal', std: 0.02 });
  specs.set(names.patchBias, bias(hiddenSize));
  specs.set(names.positionEmbedding, { dims: [1, imageTokenCount(config), hiddenSize], init: 'normal', std: 0.02 });
  for (let layer = 0; layer < config.numLayers; layer++) {
    const layerNames = visionLayerTensorNames(layer);
    specs.set(layerNames.norm1Weight, normWeight(hiddenSize));
    specs.set(layerNames.norm1Bias, normBias(hiddenSize));
    specs.set(layerNames.qkvWeight, linear(3 * hiddenSize, hiddenSize));
    specs.set(layerNames.queryBias, bias(hiddenSize));
    specs.set(layerNames.valueBias, bias(hiddenSize));
    specs.set(layerNames.projectionWeight, linear(hiddenSize, hiddenSize, 0.5));
    specs.set(layerNames.projectionBias, bias(hiddenSize));
    specs.set(layerNames.norm2Weight, normWeight(hiddenSize));
    specs.set(layerNames.norm2Bias, normBias(hiddenSize));
    specs.set(layerNames.fc1Weight, linear(intermediateSize, hiddenSize));
    specs.set(layerNames.fc1Bias, bias(intermediateSize));
    specs.set(layerNames.fc2Weight, linear(hiddenSize, intermediateSize, 0.5));
    specs.set(layerNames.fc2Bias, bias(hiddenSize));
  }
  specs.set(names.postNormWeight, normWeight(hiddenSize));
  specs.set(names.postNormBias, normBias(hiddenSize));
  specs.set(names.queryTokens, { dims: [1, query.numQueries, query.hiddenSize], init: 'normal', std: 0.02 });
  specs.set(names.qformerNormWeight, normWeight(query.hiddenSize));
  specs.set(names.qformerNormBias, normBias(query.hiddenSize));
  const attention = (layer: number, kind: 'attention' | 'crossattention', keyValueWidth: number) => {
    const attentionNames = qformerAttentionTensorNames(layer, kind);
    specs.set(attentionNames.queryWeight, linear(query.hiddenSize, query.hiddenSize));
    specs.set(attentionNames.queryBias, bias(query.hiddenSize));
    specs.set(attentionNames.keyWeight, linear(query.hiddenSize, keyValueWidth));
    specs.set(attentionNames.keyBias, bias(query.hiddenSize));
    specs.set(attentionNames.valueWeight, linear(query.hiddenSize, keyValueWidth));
    specs.set(attentionNames.valueBias, bias(query.hiddenSize));
    specs.set(attentionNames.outputWeight, linear(query.hiddenSize, query.hiddenSize, 0.5));
    specs.set(attentionNames.outputBias, bias(query.hiddenSize));
    specs.set(attentionNames.normWeight, normWeight(query.hiddenSize));
    specs.set(attentionNames.normBias, normBias(query.hiddenSize));
  };
  for (let layer = 0; layer < query.numLayers; layer++) {
    attention(layer, 'attention', query.hiddenSize);
    if (hasCrossAttention(config, layer)) attention(layer, 'crossattention', hiddenSize);
    const feedForward = qformerFeedForwardTensorNames(layer);
    specs.set(feedForward.intermediateWeight, linear(query.intermediateSize, query.hiddenSize));
    specs.set(feedForward.intermediateBias, bias(query.intermediateSize));
    specs.set(feedForward.outputWeight, linear(query.hiddenSize, query.intermediateSize, 0.5));
    specs.set(feedForward.outputBias, bias(query.hiddenSize));
    specs.set(feedForward.normWeight, normWeight(query.hiddenSize));
    specs.set(feedForward.normBias, normBias(query.hiddenSize));
  }
  specs.set(names.projectionWeight, linear(config.projectionSize, query.hiddenSize));
  specs.set(names.projectionBias, bias(config.projectionSize));
  return specs;
}

/** Seeded random BLIP-2 vision, Q-Former and projection weights at a preset's vision size. */
export function randomVisionWeights(preset: PresetName, seed: number): RandomWeightSource {
  return new RandomWeightSource(seed, blip2WeightSpecs(presets[preset].vision), `${preset} vision`);
}
