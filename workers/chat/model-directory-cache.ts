import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelDtype, PresetName } from '../model/config.ts';
import { type ModelManifest, manifestFileName, readManifest } from '../model/manifest.ts';
import type { BuildProgressEvent } from '../model/progress.ts';

/** The project's root folder (two levels above this file). */
const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where built models are kept between runs: `$XDG_CACHE_HOME/ziya-visual-bot` when that is set, else `.cache/` in the
 * project (ignored by git).
 */
export function modelCacheRoot(environment: NodeJS.ProcessEnv = process.env): string {
  const xdg = environment['XDG_CACHE_HOME'];
  return xdg !== undefined && xdg !== '' ? join(xdg, 'ziya-visual-bot') : join(projectRoot, '.cache');
}

/** The random-weight demo model's directory, used when no model directory is given. */
export function demoModelDirectory(environment: NodeJS.ProcessEnv = process.env, cacheRoot?: string): string {
  return join(cacheRoot ?? modelCacheRoot(environment), 'models', 'tiny-demo');
}

/** A random-weight model to build when it is not there yet. */
export interface CachedModelSpec {
  directory: string;
  preset: PresetName;
  dtype: ModelDtype;
  /** @defaultValue 0 */
  seed?: number;
  /** What an existing build must offer to be reused (say, a vision graph); otherwise it is built again. */
  requirement?: (manifest: ModelManifest) => boolean;
  onProgress?: (event: BuildProgressEvent) => void;
}

/**
 * Builds a random-weight model directory unless a finished one (with `model.json`, which the builder writes last) is
 * already there. The build goes to a private sibling folder that is renamed into place, so processes building the
 * same directory at once (a test run and a benchmark) never read each other's half-written files.
 * @returns whether this call built it
 */
export async function ensureRandomModel(spec: CachedModelSpec): Promise<boolean> {
  const directory = resolve(spec.directory);
  const usable = () =>
    existsSync(join(directory, manifestFileName)) && (spec.requirement?.(readManifest(directory)) ?? true);
  if (usable()) return false;
  const { buildModel } = await import('../model/build-model.ts');
  const staging = `${directory}.building-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(directory), { recursive: true });
  try {
    buildModel({
      out: staging,
      preset: spec.preset,
      dtype: spec.dtype,
      seed: spec.seed ?? 0,
      ...(spec.onProgress === undefined ? {} : { onProgress: spec.onProgress }),
    });
    if (usable()) return false;
    rmSync(directory, { recursive: true, force: true });
    try {
      renameSync(staging, directory);
    } catch (error) {
      // Another process finished the same build a moment earlier: theirs is as good as ours.
      if (usable()) return false;
      throw error;
    }
    return true;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * The tiny random-weight demo model (`start` and `ask` use it when no model directory is configured), built once
 * under `cacheRoot` (default: `modelCacheRoot()`), with progress lines while it builds.
 */
export async function ensureDemoModel(log: (line: string) => void, cacheRoot?: string): Promise<string> {
  const { formatProgress, throttleProgress } = await import('../model/progress.ts');
  const directory = demoModelDirectory(process.env, cacheRoot);
  const built = await ensureRandomModel({
    directory,
    preset: 'tiny',
    dtype: 'fp32',
    // A vision graph, and a decoder the batching scheduler can run (demo models built before it were `any`).
    requirement: (manifest) => manifest.files.vision !== undefined && manifest.decoderPadding === 'right',
    onProgress: throttleProgress((event) => log(`building the demo model: ${formatProgress(event)}`)),
  });
  if (built) log(`built the tiny demo model in ${directory}`);
  return directory;
}

/** Where `start` keeps the pid file of its private redis-server (found and stopped by the next start if orphaned). */
export function privateRedisPidDirectory(cacheRoot?: string, environment: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot ?? modelCacheRoot(environment), 'redis');
}
