import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildModel } from '../../../workers/model/build-model.ts';
import { presets, type TextConfig } from '../../../workers/model/config.ts';
import { readManifest } from '../../../workers/model/manifest.ts';
import { llamaWeightSpecs } from '../../../workers/model/weights/llama-weight-specs.ts';
import { RandomWeightSource } from '../../../workers/model/weights/random-weights.ts';
import { writeHfConfig, writeSafetensors } from '../builder-test-support.ts';
import { type FakeHub, type FakeHubFile, sha256Hex, startFakeHub } from './fake-hub.ts';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../../../bin/ziya-visual-bot.js');
const baseConfig: TextConfig = { ...presets.tiny.text, vocabSize: 32000 };
const deltaConfig: TextConfig = { ...presets.tiny.text, vocabSize: 39424 };
const deltaCommit = '1111111111111111111111111111111111111111';
const baseCommit = '2222222222222222222222222222222222222222';

let temporary: string;
let hub: FakeHub;
let deltaDirectory: string;
let baseDirectory: string;

/** A checkpoint directory with one model.safetensors (F32), config.json and tokenizer.json. */
function writeCheckpoint(directory: string, config: TextConfig, seed: number): void {
  mkdirSync(directory, { recursive: true });
  writeHfConfig(directory, config);
  const weights = new RandomWeightSource(seed, llamaWeightSpecs(config), `seed ${seed}`);
  writeSafetensors(
    join(directory, 'model.safetensors'),
    [...llamaWeightSpecs(config).keys()].map((name) => ({ name, dtype: 'F32' as const, tensor: weights.get(name) })),
  );
  writeFileSync(join(directory, 'tokenizer.json'), readFileSync(join(inject('tinyModelDir'), 'tokenizer.json')));
}

const repoFiles = (directory: string): FakeHubFile[] => [
  { path: 'config.json', content: readFileSync(join(directory, 'config.json')), lfs: false },
  { path: 'tokenizer.json', content: readFileSync(join(directory, 'tokenizer.json')), lfs: true },
  { path: 'model.safetensors', content: readFileSync(join(directory, 'model.safetensors')), lfs: true },
];

beforeAll(async () => {
  temporary = mkdtempSync(join(tmpdir(), 'build-from-hub-'));
  deltaDirectory = join(temporary, 'delta');
  baseDirectory = join(temporary, 'base');
  writeCheckpoint(deltaDirectory, deltaConfig, 12);
  writeCheckpoint(baseDirectory, baseConfig, 11);
  const smallerDirectory = join(temporary, 'smaller');
  writeCheckpoint(smallerDirectory, { ...baseConfig, numLayers: 1 }, 13);
  hub = await startFakeHub(
    [
      { repo: 'IDEA-CCNL/Ziya-delta', commit: deltaCommit, files: repoFiles(deltaDirectory) },
      { repo: 'meta/llama-base', commit: baseCommit, gated: true, files: repoFiles(baseDirectory) },
      { repo: 'meta/llama-smaller', commit: baseCommit, files: repoFiles(smallerDirectory) },
    ],
    { acceptedToken: 'hf_good' },
  );
});
afterAll(async () => {
  await hub.close();
  rmSync(temporary, { recursive: true, force: true });
});

function cliEnvironment(token?: string): NodeJS.ProcessEnv {
  const home = join(temporary, 'home');
  return {
    PATH: process.env.PATH,
    HOME: home,
    HF_HOME: join(home, 'hf'),
    HF_HUB_CACHE: join(temporary, 'hub-cache'),
    HF_ENDPOINT: hub.endpoint,
    ...(token !== undefined ? { HF_TOKEN: token } : {}),
  };
}

describe('build-model --from hf:… --delta-base hf:…', () => {
  it('downloads both repositories and builds what a build from the same directories builds', async () => {
    const out = join(temporary, 'from-hub');
    const { stderr } = await run(
      process.execPath,
      [cli, 'build-model', '--from', 'hf:IDEA-CCNL/Ziya-delta', '--delta-base', 'hf:meta/llama-base', '--out', out],
      { env: cliEnvironment('hf_good') },
    );
    expect(stderr).toMatch(
      /hf:IDEA-CCNL\/Ziya-delta@1111111 model\.safetensors [\d.]+ MiB\/[\d.]+ MiB, all [\d.]+ MiB\/[\d.]+ MiB, [\d.]+ [KMG]?i?B\/s/,
    );
    const local = join(temporary, 'from-directories');
    buildModel({ out: local, from: deltaDirectory, deltaBase: baseDirectory, dtype: 'fp32' });
    for (const file of ['decoder.onnx.data', 'embed.onnx.data', 'tokenizer.json']) {
      expect(readFileSync(join(out, file)).equals(readFileSync(join(local, file))), file).toBe(true);
    }
    const manifest = readManifest(out);
    expect(
      manifest.inputs?.map(({ role, location, commit, revisions }) => ({ role, location, commit, revisions })),
    ).toEqual([
      { role: 'text', location: 'hf:IDEA-CCNL/Ziya-delta', commit: deltaCommit, revisions: ['main'] },
      { role: 'delta-base', location: 'hf:meta/llama-base', commit: baseCommit, revisions: ['main'] },
    ]);
    expect(manifest.inputs?.[0]?.files.find((file) => file.path === 'model.safetensors')?.digest).toBe(
      `sha256:${sha256Hex(readFileSync(join(deltaDirectory, 'model.safetensors')))}`,
    );
  });

  it('model info prints the sources, commits, digests, dtype, template and sizes; and says a random model is a demo', async () => {
    const { stdout } = await run(process.execPath, [cli, 'model', 'info', join(temporary, 'from-hub')]);
    const lines = stdout.split('\n');
    expect(lines).toContain(`  demo:       no, built from checkpoints (hf:IDEA-CCNL/Ziya-delta@${deltaCommit})`);
    expect(stdout).toMatch(/\n {2}model id: {3}Ziya-delta-fp32-[0-9a-f]{16}\n/);
    expect(lines).toContain('  dtype:      fp32, decoder padding right');
    expect(lines).toContain(`    text        hf:IDEA-CCNL/Ziya-delta @ ${deltaCommit} (main)`);
    expect(lines).toContain(`    delta-base  hf:meta/llama-base @ ${baseCommit} (main)`);
    const shardDigest = sha256Hex(readFileSync(join(baseDirectory, 'model.safetensors')));
    expect(
      lines.some((line) => /^ {6}model\.safetensors +[\d.]+ MiB {2}sha256:/.test(line) && line.endsWith(shardDigest)),
    ).toBe(true);
    expect(stdout).toMatch(
      / {2}template: {3}system "\{instruction\}\\n", user "<human>:\{query\}\\n", assistant "<bot>:"/,
    );
    expect(stdout).toMatch(/\n {4}decoder\.onnx\.data +[\d.]+ MiB\n/);
    expect(stdout).toMatch(/\n {2}total: +[\d.]+ MiB\n$/);

    const demo = await run(process.execPath, [cli, 'model', 'info', inject('tinyModelDir')]);
    expect(demo.stdout).toMatch(/\n {2}demo: {7}YES: random weights \(random:tiny:0\), the answers carry no meaning\n/);
    expect(demo.stdout).toMatch(/\n {2}inputs: {5}none \(random weights\)\n/);

    const missing = await run(process.execPath, [cli, 'model', 'info', join(temporary, 'nothing')]).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect((missing as { code: number }).code).toBe(1);
    expect((missing as { stderr: string }).stderr).toMatch(
      /^model info: model directory .*nothing: model\.json: not found/,
    );
  });

  it('stops with one line naming HF_TOKEN when the gated base refuses, before fetching any weights', async () => {
    const failure = await run(
      process.execPath,
      [
        cli,
        'build-model',
        '--from',
        'hf:IDEA-CCNL/Ziya-delta',
        '--delta-base',
        'hf:meta/llama-base',
        '--out',
        join(temporary, 'never1'),
      ],
      { env: { ...cliEnvironment(), HF_HUB_CACHE: join(temporary, 'cache-2') } },
    ).catch((error: { code: number; stderr: string }) => error);
    expect((failure as { code: number }).code).toBe(1);
    const stderr = (failure as { stderr: string }).stderr;
    expect(stderr.trim().split('\n').at(-1)).toMatch(
      /^build-model: hf:meta\/llama-base@main config\.json: 401, the repository is gated or private .*set HF_TOKEN/,
    );
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a base of another size after fetching the two config.json files only', async () => {
    const cdnBefore = [...hub.log.cdnBytes.values()].reduce((sum, bytes) => sum + bytes, 0);
    const cache = join(temporary, 'cache-3');
    const failure = await run(
      process.execPath,
      [
        cli,
        'build-model',
        '--from',
        'hf:IDEA-CCNL/Ziya-delta',
        '--delta-base',
        'hf:meta/llama-smaller',
        '--out',
        join(temporary, 'never2'),
      ],
      { env: { ...cliEnvironment(), HF_HUB_CACHE: cache } },
    ).catch((error: { code: number; stderr: string }) => error);
    expect((failure as { code: number }).code).toBe(1);
    const stderr = (failure as { stderr: string }).stderr;
    // Two progress lines (one per config.json), then the refusal.
    expect(stderr.match(/config\.json 432 B\/432 B/g)).toHaveLength(2);
    expect(stderr.trim().split('\n').at(-1)).toMatch(
      /^build-model: the base hf:meta\/llama-smaller is a LLaMA with hidden 64, 1 layers, .*give --delta-base the LLaMA the delta was made from$/,
    );
    // config.json files are regular files served by the Hub host: the CDN sent no weights.
    expect([...hub.log.cdnBytes.values()].reduce((sum, bytes) => sum + bytes, 0)).toBe(cdnBefore);
  });
});
