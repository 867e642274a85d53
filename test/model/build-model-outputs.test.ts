import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { visionConfigToJson } from '../../workers/model/vision/vision-config-file.ts';
import { randomVisionWeights } from '../../workers/model/weights/blip2-weight-specs.ts';
import { writeTorchCheckpoint } from '../support/torch-save.ts';
import { writeTinyLlamaCheckpoint } from './builder-test-support.ts';

const run = promisify(execFile);
const cli = join(import.meta.dirname, '..', '..', 'bin', 'ziya-visual-bot.js');

let temporary: string;
let llama: string;

/** A BLIP-2 checkpoint directory of the tiny preset with the random weights of `seed`. */
function writeVisionCheckpoint(name: string, seed: number, options: { config?: boolean } = {}): string {
  const directory = join(temporary, name);
  mkdirSync(directory);
  if (options.config !== false) {
    writeFileSync(join(directory, 'config.json'), JSON.stringify(visionConfigToJson(presets.tiny.vision)));
  }
  const weights = randomVisionWeights('tiny', seed);
  writeTorchCheckpoint(
    join(directory, 'pytorch_model.bin'),
    weights.names().map((tensorName) => ({ name: tensorName, ...weights.get(tensorName) })),
    { archiveName: 'pytorch_model' },
  );
  return directory;
}

async function buildCommand(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, [cli, 'build-model', ...args], { encoding: 'utf8' });
    return { code: 0, stderr };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

beforeAll(() => {
  temporary = mkdtempSync(join(tmpdir(), 'build-model-outputs-'));
  llama = writeTinyLlamaCheckpoint(join(temporary, 'Tiny-Llama'), join(inject('tinyModelDir'), 'tokenizer.json'));
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

describe('build-model failures', () => {
  it('a --vision-from without config.json: one line naming the file, exit 1, no output directory', async () => {
    const noConfig = writeVisionCheckpoint('no-config', 1, { config: false });
    const out = join(temporary, 'never-written');
    const result = await buildCommand('--from', llama, '--vision-from', noConfig, '--out', out);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^build-model: ${noConfig}/config\\.json: cannot read the Blip2Config`, 'm'),
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(temporary).filter((name) => name.includes('never-written'))).toEqual([]);
  });

  it('a checkpoint failing half-way leaves an existing model directory as it was, and no staging folder', async () => {
    const out = join(temporary, 'kept');
    const first = await buildCommand('--from', llama, '--out', out);
    expect(first.code).toBe(0);
    const before = readManifest(out).modelId;
    // A vision checkpoint without its weights: the failure comes after the decoder has been converted.
    const noWeights = join(temporary, 'no-weights');
    mkdirSync(noWeights);
    writeFileSync(join(noWeights, 'config.json'), JSON.stringify(visionConfigToJson(presets.tiny.vision)));
    const second = await buildCommand('--from', llama, '--vision-from', noWeights, '--out', out);
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n').at(-1)).toMatch(
      new RegExp(`^build-model: ${noWeights}: no \\*\\.safetensors`),
    );
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(readManifest(out).modelId).toBe(before);
    expect(readdirSync(temporary).filter((name) => name.startsWith('.kept'))).toEqual([]);
  });

  it('refuses to replace a directory that is not a model directory', async () => {
    const out = join(temporary, 'photos');
    mkdirSync(out);
    writeFileSync(join(out, 'cat.jpg'), 'not a model');
    const result = await buildCommand('--random', 'tiny', '--out', out);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^build-model: --out .*photos holds cat\.jpg, which is not part of a model directory/m,
    );
    expect(readdirSync(out)).toEqual(['cat.jpg']);
  });
});

describe('text-only builds and model ids', () => {
  it('labels a build without a vision checkpoint text-only, and says so', async () => {
    const out = join(temporary, 'text-only');
    const result = await buildCommand('--from', llama, '--out', out);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('text-only model');
    const manifest = readManifest(out);
    expect(manifest.textOnly).toBe(true);
    expect(manifest.files.vision).toBeUndefined();
    expect(existsSync(join(out, 'vision.onnx'))).toBe(false);
  });

  it('gives two builds with different vision weights different ids, and the same inputs the same id', async () => {
    const visionA = writeVisionCheckpoint('vision-a', 2);
    const visionB = writeVisionCheckpoint('vision-b', 3);
    const ids: string[] = [];
    for (const [name, vision] of [
      ['with-a', visionA],
      ['with-b', visionB],
      ['with-a-again', visionA],
    ] as const) {
      const out = join(temporary, name);
      const result = await buildCommand('--from', llama, '--vision-from', vision, '--out', out);
      expect(result.code, result.stderr).toBe(0);
      const manifest = readManifest(out);
      expect(manifest.textOnly).toBe(false);
      ids.push(manifest.modelId);
    }
    expect(ids[0]).toMatch(/^Tiny-Llama-fp32-[0-9a-f]{16}$/);
    expect(ids[1]).not.toBe(ids[0]);
    expect(ids[2]).toBe(ids[0]);
  });
});
