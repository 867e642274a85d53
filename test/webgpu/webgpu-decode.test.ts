import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../workers/model/build-model.ts';
import type { KeyValueTensors } from '../../workers/runtime/decoder-model.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { probeWebGpu } from '../../workers/runtime/webgpu-adapter.ts';
import { DeviceSlotPool } from '../../workers/serving/device-slot-pool.ts';

const adapter = await probeWebGpu();
if (!adapter.available) {
  console.warn(
    `SKIPPED: no WebGPU adapter (Vulkan drivers seen: ${adapter.vulkanDrivers.join(', ') || 'none'}): ` +
      `${adapter.error}. Install mesa-vulkan-drivers from bookworm-backports (see .ci/run) to run this suite.`,
  );
}

/** Largest |a − b| over two logit arrays. */
function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let largest = 0;
  for (let index = 0; index < a.length; index++) largest = Math.max(largest, Math.abs(a[index]! - b[index]!));
  return largest;
}

// fp32 logits of the tiny model are O(1); llvmpipe gave the CPU EP's logits within ~1e-5.
const tolerance = 1e-4;
// A small fixed capacity: every run has the same shapes, so shaders compile once per (batch, sequence) shape.
const capacity = 32;
const promptIds = [1, 306, 4966, 304, 5445, 278];
const decodeIds = Array.from({ length: 16 }, (_, index) => 100 + 37 * index);

/** Runs `prompt` alone (batch 1, empty past): its logits and cache. */
function prefillAlone(model: LanguageModel, prompt: number[]) {
  return model.embedTokens(prompt).then((inputsEmbeds) =>
    model.runDecoder({
      inputsEmbeds,
      batch: 1,
      sequence: prompt.length,
      attentionMask: new BigInt64Array(prompt.length).fill(1n),
      past: model.emptyCache(1),
      logitsToKeep: 1,
    }),
  );
}

/** Prefill `prompt`, then one step per id of `steps`, each at batch 1 on the CPU with a growing cache. */
async function cpuReference(model: LanguageModel, prompt: number[], steps: number[]): Promise<Float32Array[]> {
  const hidden = model.manifest.text.hiddenSize;
  const logits: Float32Array[] = [];
  const prefill = await prefillAlone(model, prompt);
  logits.push(prefill.logits.slice());
  let past = prefill.present;
  for (const [index, id] of steps.entries()) {
    const output = await model.runDecoder({
      inputsEmbeds: (await model.embedTokens([id])).subarray(0, hidden),
      batch: 1,
      sequence: 1,
      attentionMask: new BigInt64Array(prompt.length + index + 1).fill(1n),
      past,
      logitsToKeep: 1,
    });
    logits.push(output.logits.slice());
    past = output.present;
  }
  return logits;
}

function locations(cache: KeyValueTensors): string[] {
  return [...new Set([...cache.keys, ...cache.values].map((value) => value.location))];
}

describe.skipIf(!adapter.available)('decoding on the WebGPU execution provider (llvmpipe in CI)', () => {
  let directory: string;
  let cpu: LanguageModel;
  let gpu: LanguageModel;
  let reference: Float32Array[];

  beforeAll(async () => {
    directory = join(mkdtempSync(join(tmpdir(), 'zvb-webgpu-')), 'tiny-right');
    buildModel({ out: directory, preset: 'tiny', seed: 0, dtype: 'fp32', padding: 'right' });
    cpu = await loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1 });
    gpu = await loadLanguageModel(directory, { executionProvider: 'webgpu', deviceCapacity: capacity });
    reference = await cpuReference(cpu, promptIds, decodeIds);
  });

  afterAll(async () => {
    await Promise.all([cpu?.dispose(), gpu?.dispose()]);
  });

  it('prefill and 16 decode steps match the CPU EP, with the cache on the device between steps', async () => {
    const hidden = gpu.manifest.text.hiddenSize;
    const started = performance.now();
    const prefill = await prefillAlone(gpu, promptIds);
    const differences = [maxDifference(prefill.logits, reference[0]!)];
    expect(locations(prefill.present)).toEqual(['gpu-buffer']);
    expect(prefill.present.keys[0]!.dims).toEqual([1, gpu.manifest.text.numKvHeads, capacity, 16]);
    let past = prefill.present;
    const stepMs: number[] = [];
    for (const [index, id] of decodeIds.entries()) {
      const stepStart = performance.now();
      const output = await gpu.runDecoder({
        inputsEmbeds: (await gpu.embedTokens([id])).subarray(0, hidden),
        batch: 1,
        sequence: 1,
        attentionMask: new BigInt64Array(promptIds.length + index + 1).fill(1n),
        past,
        logitsToKeep: 1,
      });
      stepMs.push(performance.now() - stepStart);
      expect(locations(output.present)).toEqual(['gpu-buffer']);
      differences.push(maxDifference(output.logits, reference[index + 1]!));
      past = output.present;
    }
    console.info(
      `webgpu vs cpu: max |Δlogit| ${Math.max(...differences).toExponential(2)} over prefill + ${decodeIds.length} ` +
        `steps; ${((performance.now() - started) / 1000).toFixed(1)} s in all (shader builds included), ` +
        `first step ${stepMs[0]!.toFixed(0)} ms, later steps median ${stepMs.sort((a, b) => a - b)[8]!.toFixed(0)} ms`,
    );
    expect(Math.max(...differences)).toBeLessThan(tolerance);
  });

  it('device slot pool: two rows written at different times and decoded together match batch 1', async () => {
    const hidden = gpu.manifest.text.hiddenSize;
    const pool = await DeviceSlotPool.create(gpu, 2);
    try {
      const prefillInto = async (slot: number) => {
        const output = await prefillAlone(gpu, promptIds);
        await pool.write(slot, output.present, promptIds.length);
        expect(locations(pool.rows(2))).toEqual(['gpu-buffer']);
      };
      // Row 1 joins first and decodes 3 steps alone (row 0 rides as padding), then row 0 joins: the rows then sit
      // at different positions, each checked against the same sequence decoded alone on the CPU.
      const lengths = [0, 0];
      const stepsDone = [0, 0];
      const differences: number[] = [];
      const step = async (active: boolean[]) => {
        const mask = new BigInt64Array(2 * capacity);
        const ids: number[] = [];
        for (let row = 0; row < 2; row++) {
          mask.fill(1n, row * capacity, row * capacity + lengths[row]! + 1);
          ids.push(active[row] ? decodeIds[stepsDone[row]!]! : 0);
        }
        const embeds = new Float32Array(2 * hidden);
        for (let row = 0; row < 2; row++)
          embeds.set((await gpu.embedTokens([ids[row]!])).subarray(0, hidden), row * hidden);
        const output = await gpu.runDecoder({
          inputsEmbeds: embeds,
          batch: 2,
          sequence: 1,
          attentionMask: mask,
          past: pool.rows(2),
          logitsToKeep: 1,
        });
        pool.adopt(output.present);
        expect(locations(pool.rows(2))).toEqual(['gpu-buffer']);
        const vocab = gpu.manifest.text.vocabSize;
        for (let row = 0; row < 2; row++) {
          if (!active[row]) continue;
          stepsDone[row]!++;
          lengths[row]!++;
          const rowLogits = output.logits.subarray(row * vocab, (row + 1) * vocab);
          differences.push(maxDifference(rowLogits, reference[stepsDone[row]!]!));
        }
      };
      await prefillInto(1);
      lengths[1] = promptIds.length;
      for (let index = 0; index < 3; index++) await step([false, true]);
      await prefillInto(0);
      lengths[0] = promptIds.length;
      for (let index = 0; index < 4; index++) await step([true, true]);
      expect(stepsDone).toEqual([4, 7]);
      console.info(
        `device slot pool, batch 2 vs batch 1 on cpu: max |Δlogit| ${Math.max(...differences).toExponential(2)}`,
      );
      expect(Math.max(...differences)).toBeLessThan(tolerance);
    } finally {
      await pool.dispose();
    }
  });

  it('ask --execution-provider webgpu answers', async () => {
    const cli = resolve(import.meta.dirname, '../../bin/ziya-visual-bot.js');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [cli, 'ask', '--model', directory, '--execution-provider', 'webgpu', '--max-tokens', '3', '--greedy', 'Hi'],
      { timeout: 280_000 },
    );
    expect(stderr).toContain('(webgpu)');
    expect(stderr).toMatch(/\[(length|stop); \d+ prompt \+ \d+ generated tokens/);
    expect(stdout.trim().length).toBeGreaterThan(0);
  });
});
