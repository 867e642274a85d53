import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildModel } from '../../workers/model/build-model.ts';
import { setupTestRedis } from '../support/redis-global-setup.ts';

declare module 'vitest' {
  interface ProvidedContext {
    /** The tiny random model (fp32, seed 0) built by the project's own builder: `inject('tinyModelDir')`. */
    tinyModelDir: string;
  }
}

const repositoryRoot = resolve(import.meta.dirname, '../..');

/** A hash of the model-building sources: the tiny model is rebuilt only when they change. */
function builderFingerprint(): string {
  const hash = createHash('sha256');
  const visit = (directory: string): void => {
    for (const entry of readdirSync(directory, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) hash.update(relative(repositoryRoot, path)).update(readFileSync(path));
    }
  };
  visit(join(repositoryRoot, 'workers/model'));
  return hash.digest('hex');
}

/**
 * Builds `.cache/test-models/tiny` unless an identical build is there. Several test runs may share the checkout,
 * so the model is built in a private directory and swapped in by rename: a reader never sees a half-written one.
 */
function ensureTinyModel(): string {
  const root = join(repositoryRoot, '.cache/test-models');
  const directory = join(root, 'tiny');
  const fingerprintFile = join(root, 'tiny.fingerprint');
  const fingerprint = builderFingerprint();
  const current = existsSync(fingerprintFile) ? readFileSync(fingerprintFile, 'utf8') : '';
  if (current === fingerprint && existsSync(join(directory, 'model.json'))) return directory;
  const staging = join(root, `tiny.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  buildModel({ out: staging, preset: 'tiny', seed: 0, dtype: 'fp32' });
  const retired = join(root, `tiny.retired-${process.pid}`);
  if (existsSync(directory)) renameSync(directory, retired);
  renameSync(staging, directory);
  rmSync(retired, { recursive: true, force: true });
  writeFileSync(fingerprintFile, fingerprint);
  return directory;
}

/** Work shared by all test files (building the tiny test model, starting Redis) is registered here. */
export default async function setup(project: TestProject): Promise<void | (() => Promise<void>)> {
  project.provide('tinyModelDir', ensureTinyModel());
  // Redis for the queue tests: REDIS_URL, else 127.0.0.1:6379 when it answers, else a private redis-server.
  return await setupTestRedis(project);
}
