import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../../src/observability/logger.ts';
import { buildModel } from '../model/build-model.ts';

/**
 * The demo model (random `tiny` weights from the project's own builder) under `cacheDirectory`, built once: later
 * starts reuse it. Built in a staging directory and renamed, so an interrupted build never leaves half a model.
 */
export function ensureDemoModel(cacheDirectory: string, logger: Logger): string {
  const directory = resolve(cacheDirectory, 'demo-model-tiny');
  if (existsSync(join(directory, 'model.json'))) return directory;
  mkdirSync(cacheDirectory, { recursive: true });
  const staging = `${directory}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  logger.info({ directory }, 'building the demo model (random tiny weights) once');
  buildModel({ out: staging, preset: 'tiny', seed: 0, dtype: 'fp32' });
  rmSync(directory, { recursive: true, force: true });
  renameSync(staging, directory);
  return directory;
}
