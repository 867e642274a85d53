import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VisionConfig } from '../config.ts';
import { openCheckpoint } from '../weights/open-checkpoint.ts';
import type { WeightSource } from '../weights/weight-source.ts';
import { CombinedQkvBiasSource } from './combined-qkv-bias.ts';
import { type ReadVisionConfigOptions, readVisionConfig } from './vision-config-file.ts';

/** A checkpoint directory's BLIP-2 architecture and a reader of its weights. */
export interface VisionCheckpoint {
  config: VisionConfig;
  weights: WeightSource;
}

/**
 * Opens the BLIP-2 half of a Hugging Face checkpoint directory such as Ziya-BLIP2-14B-Visual-v1: `config.json`
 * plus its weights (safetensors, or `pytorch_model.bin` read in place without conversion). The vision attention bias
 * may be `q_bias` / `v_bias` or the combined `qkv.bias` of recent transformers versions ({@link CombinedQkvBiasSource}).
 */
export function openVisionCheckpoint(directory: string, options: ReadVisionConfigOptions = {}): VisionCheckpoint {
  const config = readVisionConfig(directory, options);
  return { config, weights: new CombinedQkvBiasSource(openCheckpoint(directory)) };
}

/** True when `directory` holds a BLIP-2 checkpoint: its `config.json` has a `vision_config` section. */
export function hasVisionCheckpoint(directory: string): boolean {
  const path = join(directory, 'config.json');
  if (!existsSync(path)) return false;
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return typeof json.vision_config === 'object' && json.vision_config !== null;
  } catch {
    return false;
  }
}
