import { inject } from 'vitest';
import { readManifest } from '../../workers/model/manifest.ts';

/** The tiny test model built by the global setup, checked to have the vision graph these tests need. */
export function tinyVisualModelDirectory(): string {
  const directory = inject('tinyModelDir');
  if (readManifest(directory).files.vision === undefined) {
    throw new Error(`${directory} has no vision graph: the model builder wrote none`);
  }
  return directory;
}
