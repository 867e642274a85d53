/**
 * Tensor names of `decoder.onnx` and `embed.onnx`: the runtime codes against these.
 *
 * decoder inputs: `inputs_embeds` float32 [batch, sequence, hidden]; `attention_mask` int64 [batch, total_sequence]
 * (1 = real token, 0 = padding anywhere, left padding included); `past_key_values.{i}.key|value`
 * [batch, numKvHeads, past_sequence, headSize] in the compute dtype; `num_logits_to_keep` int64 scalar (the last
 * N positions get logits; 0 means every position).
 * decoder outputs: `logits` float32 [batch, num_logits_to_keep, vocab]; `present.{i}.key|value`
 * [batch, numKvHeads, total_sequence, headSize] in the compute dtype.
 *
 * float32 builds with right padding also take `decode_step` bool scalar. True: one new position per row (sequence 1)
 * over a past that is only read (row b's cached positions are `[0, Σ mask_b - 1)`), and `present.{i}.key|value` hold
 * just the new position, [batch, numKvHeads, 1, headSize], for the caller to store in its cache. False: as above.
 */
export const decoderTensorNames = {
  inputsEmbeds: 'inputs_embeds',
  attentionMask: 'attention_mask',
  numLogitsToKeep: 'num_logits_to_keep',
  decodeStep: 'decode_step',
  logits: 'logits',
  pastKey: (layer: number) => `past_key_values.${layer}.key`,
  pastValue: (layer: number) => `past_key_values.${layer}.value`,
  presentKey: (layer: number) => `present.${layer}.key`,
  presentValue: (layer: number) => `present.${layer}.value`,
} as const;

/** Tensor names of `embed.onnx`: `input_ids` int64 [batch, sequence] → `inputs_embeds` float32. */
export const embedTensorNames = { inputIds: 'input_ids', inputsEmbeds: 'inputs_embeds' } as const;

/**
 * Element type of the activations and the KV cache: float16 for fp16 and int4-fp16 models, float32 for fp32 and int4
 * models.
 */
export function cacheElementType(dtype: 'fp32' | 'fp16' | 'int4' | 'int4-fp16'): 'float32' | 'float16' {
  return dtype === 'fp16' || dtype === 'int4-fp16' ? 'float16' : 'float32';
}

/** Whether a build's decoder takes `decode_step` (see step-attention.ts): float32 activations, right padding. */
export function decoderTakesDecodeStep(
  dtype: 'fp32' | 'fp16' | 'int4' | 'int4-fp16',
  padding: 'any' | 'right',
): boolean {
  return padding === 'right' && cacheElementType(dtype) === 'float32';
}
