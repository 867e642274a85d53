import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../workers/model/build-model.ts';
import type { ModelDtype } from '../../workers/model/config.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { probeWebGpu } from '../../workers/runtime/webgpu-adapter.ts';

const adapter = await probeWebGpu();
if (!adapter.available) console.warn(`SKIPPED: no WebGPU adapter: ${adapter.error}`);

const root = resolve(import.meta.dirname, '../..');
const dtypes = ['fp16', 'int4', 'int4-fp16'] as const satisfies readonly ModelDtype[];
/** The ops that do the work: none may fall back to the CPU EP (ORT itself puts the int64 shape arithmetic there). */
const computeOps = [
  'MatMul',
  'MatMulNBits',
  'GroupQueryAttention',
  'SimplifiedLayerNormalization',
  'SkipSimplifiedLayerNormalization',
  'Mul',
  'Sigmoid',
  'Split',
];
const promptIds = [1, 306, 4966, 304, 5445, 278];
const decodeIds = [100, 137, 174, 211];
const capacity = 16;

/** Which node types onnxruntime places on each EP, read from its verbose session log (a child process: native log). */
async function placements(decoder: string): Promise<Record<string, string[]>> {
  const script = `require('onnxruntime-node').InferenceSession.create(${JSON.stringify(decoder)}, { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel: 0 }).then((session) => session.release())`;
  const { stderr, stdout } = await promisify(execFile)(process.execPath, ['-e', script], {
    cwd: root,
    timeout: 120_000,
  });
  const placed: Record<string, string[]> = {};
  let provider: string | undefined;
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    const header = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (header) {
      provider = header[1]!;
      placed[provider] ??= [];
      continue;
    }
    const node = /^\s+(\w+) \(.*\)$/.exec(line.replace(/^.*\] /, ''));
    if (provider && node && line.includes('VerifyEachNodeIsAssignedToAnEp')) placed[provider]!.push(node[1]!);
    else if (!line.includes('VerifyEachNodeIsAssignedToAnEp')) provider = undefined;
  }
  return placed;
}

/** Relative RMS difference of two logit arrays. */
function relativeRms(a: Float32Array, b: Float32Array): number {
  let difference = 0;
  let norm = 0;
  for (let index = 0; index < a.length; index++) {
    difference += (a[index]! - b[index]!) ** 2;
    norm += b[index]! ** 2;
  }
  return Math.sqrt(difference / norm);
}

/** Prefill, then the decode ids one by one (the cache chained from step to step); every run's logits. */
async function decode(model: LanguageModel): Promise<Float32Array[]> {
  const hidden = model.manifest.text.hiddenSize;
  const logits: Float32Array[] = [];
  let output = await model.runDecoder({
    inputsEmbeds: await model.embedTokens(promptIds),
    batch: 1,
    sequence: promptIds.length,
    attentionMask: new BigInt64Array(promptIds.length).fill(1n),
    past: model.emptyCache(1),
    logitsToKeep: 1,
  });
  logits.push(output.logits.slice());
  for (const [index, id] of decodeIds.entries()) {
    output = await model.runDecoder({
      inputsEmbeds: (await model.embedTokens([id])).subarray(0, hidden),
      batch: 1,
      sequence: 1,
      attentionMask: new BigInt64Array(promptIds.length + index + 1).fill(1n),
      past: output.present,
      logitsToKeep: 1,
    });
    logits.push(output.logits.slice());
  }
  return logits;
}

// The builder's fp16 and int4 graphs on the installed onnxruntime-node's WebGPU EP: which kernels it has, and that
// they compute what the CPU EP computes.
describe.skipIf(!adapter.available)('the WebGPU kernel list (fp16 and int4 builds, llvmpipe in CI)', () => {
  const directories = new Map<ModelDtype, string>();
  const models: LanguageModel[] = [];

  beforeAll(() => {
    const parent = mkdtempSync(join(tmpdir(), 'zvb-webgpu-kernels-'));
    for (const dtype of dtypes) {
      const directory = join(parent, dtype);
      buildModel({ out: directory, preset: 'tiny', seed: 0, dtype, padding: 'right' });
      directories.set(dtype, directory);
    }
  });
  afterAll(async () => {
    await Promise.all(models.map((model) => model.dispose()));
  });

  it.each(dtypes)('%s: every compute op runs on WebGPU (only shape arithmetic on the CPU)', async (dtype) => {
    const placed = await placements(join(directories.get(dtype)!, 'decoder.onnx'));
    const onGpu = placed['WebGpuExecutionProvider'] ?? [];
    const onCpu = placed['CPUExecutionProvider'] ?? [];
    expect(onGpu).toContain('GroupQueryAttention');
    expect(onGpu).toContain('SkipSimplifiedLayerNormalization');
    expect(onGpu).toContain(dtype === 'fp16' ? 'MatMul' : 'MatMulNBits');
    expect(onCpu.filter((op) => computeOps.includes(op))).toEqual([]);
    console.info(`${dtype}: ${onGpu.length} nodes on WebGPU; on the CPU: ${[...new Set(onCpu)].join(', ')}`);
  });

  // fp16: both EPs compute in half precision, in different orders. int4: the CPU EP (accuracy_level 4) quantizes
  // activations to int8 per block, WebGPU does not, so the two differ by about that quantization (≈ 1 %).
  const tolerances: Record<(typeof dtypes)[number], number> = { fp16: 0.01, int4: 0.03, 'int4-fp16': 0.03 };

  it.each(dtypes)('%s: prefill and 4 decode steps match the CPU EP', async (dtype) => {
    const directory = directories.get(dtype)!;
    const cpu = await loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1 });
    const gpu = await loadLanguageModel(directory, { executionProvider: 'webgpu', deviceCapacity: capacity });
    models.push(cpu, gpu);
    const [expected, actual] = [await decode(cpu), await decode(gpu)];
    const errors = actual.map((logits, index) => relativeRms(logits, expected[index]!));
    console.info(`${dtype} webgpu vs cpu: relative RMS per run ${errors.map((error) => error.toExponential(1))}`);
    expect(Math.max(...errors)).toBeLessThan(tolerances[dtype]);
  });
});
