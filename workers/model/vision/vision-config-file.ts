import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { presets, type VisionConfig } from '../config.ts';

/** `config.json` of a checkpoint is missing or has a field of the wrong type; the message names file and field. */
export class VisionConfigError extends Error {
  override readonly name = 'VisionConfigError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** Options of `readVisionConfig`. */
export interface ReadVisionConfigOptions {
  /**
   * Overrides `vision_config.layer_norm_eps`. Early transformers releases ignored that field and used PyTorch's
   * default 1e-5 in the vision tower; the Ziya/EVA-CLIP weights were trained with 1e-6, which is also the default
   * when the field is absent.
   */
  layerNormEps?: number;
}

type JsonObject = Record<string, unknown>;

function objectField(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : {};
}

/**
 * Reads a Hugging Face `Blip2Config` (`config.json`: `vision_config`, `qformer_config`, `num_query_tokens`,
 * `text_config.hidden_size`) into a `VisionConfig`. Absent fields take Ziya-BLIP2-14B-Visual-v1's values.
 */
export function readVisionConfig(directory: string, options: ReadVisionConfigOptions = {}): VisionConfig {
  const path = join(directory, 'config.json');
  let json: JsonObject;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as JsonObject;
  } catch (error) {
    throw new VisionConfigError(path, `cannot read the Blip2Config: ${(error as Error).message}`);
  }
  const defaults = presets['ziya-14b'].vision;
  const number = (section: JsonObject, sectionName: string, key: string, fallback: number): number => {
    const value = section[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new VisionConfigError(path, `${sectionName}${key} must be a positive number, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const vision = objectField(json, 'vision_config');
  const qformer = objectField(json, 'qformer_config');
  const text = objectField(json, 'text_config');
  const hiddenSize = number(vision, 'vision_config.', 'hidden_size', defaults.hiddenSize);
  const encoderHiddenSize = number(qformer, 'qformer_config.', 'encoder_hidden_size', hiddenSize);
  if (encoderHiddenSize !== hiddenSize) {
    throw new VisionConfigError(
      path,
      `qformer_config.encoder_hidden_size ${encoderHiddenSize} differs from vision_config.hidden_size ${hiddenSize}`,
    );
  }
  const config: VisionConfig = {
    imageSize: number(vision, 'vision_config.', 'image_size', defaults.imageSize),
    patchSize: number(vision, 'vision_config.', 'patch_size', defaults.patchSize),
    hiddenSize,
    intermediateSize: number(vision, 'vision_config.', 'intermediate_size', defaults.intermediateSize),
    numLayers: number(vision, 'vision_config.', 'num_hidden_layers', defaults.numLayers),
    numHeads: number(vision, 'vision_config.', 'num_attention_heads', defaults.numHeads),
    layerNormEps: options.layerNormEps ?? number(vision, 'vision_config.', 'layer_norm_eps', defaults.layerNormEps),
    qformer: {
      numQueries: number(json, '', 'num_query_tokens', defaults.qformer.numQueries),
      hiddenSize: number(qformer, 'qformer_config.', 'hidden_size', defaults.qformer.hiddenSize),
      intermediateSize: number(qformer, 'qformer_config.', 'intermediate_size', defaults.qformer.intermediateSize),
      numLayers: number(qformer, 'qformer_config.', 'num_hidden_layers', defaults.qformer.numLayers),
      numHeads: number(qformer, 'qformer_config.', 'num_attention_heads', defaults.qformer.numHeads),
      crossAttentionFrequency: number(
        qformer,
        'qformer_config.',
        'cross_attention_frequency',
        defaults.qformer.crossAttentionFrequency,
      ),
      layerNormEps: number(qformer, 'qformer_config.', 'layer_norm_eps', defaults.qformer.layerNormEps),
    },
    projectionSize: number(text, 'text_config.', 'hidden_size', defaults.projectionSize),
  };
  for (const [label, width, heads] of [
    ['vision_config', config.hiddenSize, config.numHeads],
    ['qformer_config', config.qformer.hiddenSize, config.qformer.numHeads],
  ] as const) {
    if (width % heads !== 0) {
      throw new VisionConfigError(
        path,
        `${label}.hidden_size ${width} is not divisible by num_attention_heads ${heads}`,
      );
    }
  }
  if (config.imageSize % config.patchSize !== 0) {
    throw new VisionConfigError(path, `vision_config.image_size ${config.imageSize} is not a multiple of patch_size`);
  }
  return config;
}

/** The `config.json` a Hugging Face `Blip2Config` would save for `config` (used to write test checkpoints). */
export function visionConfigToJson(config: VisionConfig): Record<string, unknown> {
  return {
    model_type: 'blip-2',
    num_query_tokens: config.qformer.numQueries,
    vision_config: {
      hidden_size: config.hiddenSize,
      intermediate_size: config.intermediateSize,
      num_hidden_layers: config.numLayers,
      num_attention_heads: config.numHeads,
      image_size: config.imageSize,
      patch_size: config.patchSize,
      layer_norm_eps: config.layerNormEps,
      hidden_act: 'gelu',
      qkv_bias: true,
    },
    qformer_config: {
      hidden_size: config.qformer.hiddenSize,
      intermediate_size: config.qformer.intermediateSize,
      num_hidden_layers: config.qformer.numLayers,
      num_attention_heads: config.qformer.numHeads,
      cross_attention_frequency: config.qformer.crossAttentionFrequency,
      encoder_hidden_size: config.hiddenSize,
      layer_norm_eps: config.qformer.layerNormEps,
      hidden_act: 'gelu',
    },
    text_config: { hidden_size: config.projectionSize },
  };
}
