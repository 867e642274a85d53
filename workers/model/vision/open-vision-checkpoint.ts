import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VisionConfig } from '../config.ts';
import { PytorchCheckpointSource } from '../weights/pytorch-checkpoint-source.ts';
import { SafetensorsWeightSource } from '../weights/safetensors-source.ts';
import type { WeightSource } from '../weights/weight-source.ts';
import { type ReadVisionConfigOptions, readVisionConfig, VisionConfigError } from './vision-config-file.ts';

/** A checkpoint directory's BLIP-2 architecture and a reader of its weights. */
export interface VisionCheckpoint {
  config: VisionConfig;
  weights: WeightSource;
}

/**
 * Opens the BLIP-2 half of a Hugging Face checkpoint directory such as Ziya-BLIP2-14B-Visual-v1: `config.json`
 * plus `pytorch_model.bin` (or its sharded `pytorch_model.bin.index.json`), read in place without conversion, or
 * safetensors files when there is no PyTorch checkpoint.
 */
export function openVisionCheckpoint(directory: string, options: ReadVisionConfigOptions = {}): VisionCheckpoint {
  const config = readVisionConfig(directory, options);
  const checkpointPath = PytorchCheckpointSource.pathIn(directory);
  if (checkpointPath) return { config, weights: new PytorchCheckpointSource(checkpointPath) };
  if (readdirSync(directory).some((file) => file.endsWith('.safetensors'))) {
    return { config, weights: new SafetensorsWeightSource(directory) };
  }
  throw new VisionConfigError(
    directory,
    'no pytorch_model.bin, pytorch_model.bin.index.json or *.safetensors file with the BLIP-2 weights',
  );
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
