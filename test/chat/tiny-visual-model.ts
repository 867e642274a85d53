import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { manifestFileName, readManifest } from '../../workers/model/manifest.ts';

/** The tiny test model built by the global setup, checked to have the vision graph these tests need. */
export function tinyVisualModelDirectory(): string {
  const directory = inject('tinyModelDir');
  if (readManifest(directory).files.vision === undefined) {
    throw new Error(`${directory} has no vision graph: the model builder wrote none`);
  }
  return directory;
}

/**
 * Copies the tiny model to `directory` without its vision tower, as `build-model --from` without `--vision-from`
 * writes one: no vision.onnx, `textOnly: true`.
 */
export function writeTextOnlyTinyModel(directory: string): string {
  cpSync(tinyVisualModelDirectory(), directory, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(directory, manifestFileName), 'utf8'));
  delete manifest.vision;
  delete manifest.files.vision;
  manifest.textOnly = true;
  writeFileSync(join(directory, manifestFileName), JSON.stringify(manifest));
  rmSync(join(directory, 'vision.onnx'));
  rmSync(join(directory, 'vision.onnx.data'));
  return directory;
}
