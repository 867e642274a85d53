import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TextConfig } from '../config.ts';
import { checkDeltaApplies, DeltaMismatchError, DeltaWeightSource } from './delta-weight-source.ts';
import { readHfLlamaConfig } from './hf-llama-config.ts';
import { openCheckpoint } from './open-checkpoint.ts';
import type { WeightSource } from './weight-source.ts';

/**
 * Opens a delta checkpoint (`deltaDirectory`, whose config is `deltaConfig`) over its base (`--delta-base`) as one
 * weight source, after `checkDeltaApplies` has compared their configs, tensor names and shapes: a wrong base or an
 * incomplete delta fails here, before the first tensor is converted.
 */
export function openDeltaCheckpoint(
  deltaDirectory: string,
  deltaConfig: TextConfig,
  baseDirectory: string,
): WeightSource {
  const base = resolve(baseDirectory);
  if (!existsSync(base) || !statSync(base).isDirectory()) {
    throw new DeltaMismatchError(`--delta-base ${base} is not a directory`);
  }
  const baseConfig = readHfLlamaConfig(base);
  const baseWeights = openCheckpoint(base);
  let deltaWeights: WeightSource | undefined;
  try {
    deltaWeights = openCheckpoint(deltaDirectory);
    checkDeltaApplies({ config: baseConfig, weights: baseWeights }, { config: deltaConfig, weights: deltaWeights });
    return new DeltaWeightSource(baseWeights, deltaWeights);
  } catch (error) {
    baseWeights.close();
    deltaWeights?.close();
    throw error;
  }
}
