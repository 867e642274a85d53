import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { TextConfig } from '../config.ts';

/** A checkpoint's `config.json` is missing or describes something this builder cannot convert. */
export class CheckpointConfigError extends Error {
  override readonly name = 'CheckpointConfigError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

const optionalTokenId = z.number().int().nullable().optional();

/** The fields of a Hugging Face `LlamaConfig` the decoder needs. */
const hfLlamaConfigSchema = z.object({
  model_type: z.string().optional(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive().nullable().optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.unknown().optional(),
  max_position_embeddings: z.number().int().positive().optional(),
  vocab_size: z.number().int().positive(),
  hidden_act: z.string().optional(),
  bos_token_id: optionalTokenId,
  eos_token_id: z.union([optionalTokenId, z.array(z.number().int())]),
  pad_token_id: optionalTokenId,
});

/**
 * Maps a Hugging Face LLaMA `config.json` object to `TextConfig`. A BLIP-2 style config (`text_config` inside) is
 * read from its text part. Defaults follow `LlamaConfig`: key/value heads = heads, RoPE θ 10000, eps 1e-6,
 * 2048 positions, bos 1, eos 2; a missing or negative pad id becomes 0.
 */
export function textConfigFromHf(json: unknown, file: string): TextConfig {
  const root = json as { text_config?: unknown } | null;
  const candidate = root && typeof root === 'object' && root.text_config ? root.text_config : json;
  const parsed = hfLlamaConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new CheckpointConfigError(file, `not a LLaMA config: ${issues.join('; ')}`);
  }
  const hf = parsed.data;
  if (hf.model_type !== undefined && hf.model_type !== 'llama') {
    throw new CheckpointConfigError(file, `model_type "${hf.model_type}" is not supported (only "llama")`);
  }
  if (hf.hidden_act !== undefined && hf.hidden_act !== 'silu') {
    throw new CheckpointConfigError(file, `hidden_act "${hf.hidden_act}" is not supported (only "silu")`);
  }
  if (hf.rope_scaling !== undefined && hf.rope_scaling !== null) {
    throw new CheckpointConfigError(file, 'rope_scaling is not supported');
  }
  if (hf.hidden_size % hf.num_attention_heads !== 0) {
    throw new CheckpointConfigError(file, 'hidden_size is not a multiple of num_attention_heads');
  }
  const numKvHeads = hf.num_key_value_heads ?? hf.num_attention_heads;
  if (hf.num_attention_heads % numKvHeads !== 0) {
    throw new CheckpointConfigError(file, 'num_attention_heads is not a multiple of num_key_value_heads');
  }
  const eos = Array.isArray(hf.eos_token_id) ? hf.eos_token_id[0] : hf.eos_token_id;
  const tokenOr = (value: number | null | undefined, fallback: number) =>
    value === undefined || value === null || value < 0 ? fallback : value;
  return {
    vocabSize: hf.vocab_size,
    hiddenSize: hf.hidden_size,
    intermediateSize: hf.intermediate_size,
    numLayers: hf.num_hidden_layers,
    numHeads: hf.num_attention_heads,
    numKvHeads,
    rmsNormEps: hf.rms_norm_eps ?? 1e-6,
    ropeTheta: hf.rope_theta ?? 10000,
    maxPositions: hf.max_position_embeddings ?? 2048,
    bosTokenId: tokenOr(hf.bos_token_id, 1),
    eosTokenId: tokenOr(eos, 2),
    padTokenId: tokenOr(hf.pad_token_id, 0),
  };
}

/** Reads `<directory>/config.json` of a Hugging Face LLaMA checkpoint. */
export function readHfLlamaConfig(directory: string): TextConfig {
  const file = join(directory, 'config.json');
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointConfigError(
      file,
      code === 'ENOENT' ? 'not found (is this a Hugging Face checkpoint?)' : String(error),
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new CheckpointConfigError(file, `invalid JSON: ${(error as Error).message}`);
  }
  return textConfigFromHf(json, file);
}
