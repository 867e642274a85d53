import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel } from '../../workers/model/build-model.ts';
import type { PresetName } from '../../workers/model/config.ts';
import type { GgufFileType } from '../../workers/model/gguf/llama-gguf.ts';
import { writeRandomLlamaGguf } from '../../workers/model/gguf/random-llama-gguf.ts';
import { manifestFileName, readManifest } from '../../workers/model/manifest.ts';

/** One weight format measured on both engines: our model directory and the GGUF with the same weights. */
export interface BenchModelPair {
  /** `f32` or `int4`, as printed. */
  label: string;
  modelDirectory: string;
  ggufPath: string;
}

const pairs = [
  { label: 'f32 vs F32', dtype: 'fp32', fileType: 'f32' },
  { label: 'int4 vs Q4_0', dtype: 'int4', fileType: 'q4_0' },
] as const satisfies readonly { label: string; dtype: 'fp32' | 'int4'; fileType: GgufFileType }[];

/**
 * Builds (unless already there) the preset's model directories and matching GGUF files under `cacheDirectory`.
 * A directory counts as built when its `model.json` names the same random source, dtype, (batchable) right
 * padding and decode steps; a GGUF is written to a temporary
 * name and renamed, so an interrupted write is redone.
 */
export function ensureBenchModels(
  cacheDirectory: string,
  preset: PresetName,
  seed: number,
  log: (line: string) => void,
): BenchModelPair[] {
  mkdirSync(cacheDirectory, { recursive: true });
  return pairs.map(({ label, dtype, fileType }) => {
    const modelDirectory = join(cacheDirectory, `${preset}-seed${seed}-${dtype}`);
    const source = `random:${preset}:${seed}`;
    const built =
      existsSync(join(modelDirectory, manifestFileName)) &&
      readManifest(modelDirectory).source === source &&
      readManifest(modelDirectory).dtype === dtype &&
      readManifest(modelDirectory).decoderPadding === 'right' &&
      readManifest(modelDirectory).decodeSteps;
    if (!built) {
      log(`building ${preset} ${dtype} into ${modelDirectory} …`);
      const result = buildModel({ out: modelDirectory, dtype, preset, seed });
      log(`  built in ${result.seconds.toFixed(1)} s`);
    }
    const ggufPath = join(cacheDirectory, `${preset}-seed${seed}-${fileType}.gguf`);
    if (!existsSync(ggufPath)) {
      log(`writing ${ggufPath} …`);
      const startedAt = performance.now();
      const partial = `${ggufPath}.partial`;
      writeRandomLlamaGguf({ path: partial, preset, seed, fileType });
      renameSync(partial, ggufPath);
      log(`  written in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
    }
    return { label, modelDirectory, ggufPath };
  });
}
