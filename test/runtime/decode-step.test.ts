import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../workers/model/manifest.ts';
import { decodeStepAdvice } from '../../workers/runtime/decode-step-advice.ts';
import type { KeyValueTensors } from '../../workers/runtime/decoder-model.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createSeededRandom } from '../../workers/runtime/seeded-random.ts';
import { hostCaches, storeNewPositions } from '../../workers/runtime/store-new-positions.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from './support/test-model.ts';

// 4 query heads over 2 kv heads: the step's grouped layout is exercised, not only one query per kv head.
const config = testTextConfig({ maxPositions: 512, numHeads: 4, numKvHeads: 2 });
const width = 128;
/** Cached positions per row: a short one, an empty slot, one past the first 64. */
const lengths = [5, 0, 77];

let directory: string;
let stepped: LanguageModel;
let older: LanguageModel;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'decode-step-'));
  writeTestModel(join(directory, 'fp32'), { seed: 3, padding: 'right', config });
  // fp16 activations: no decode steps (the step's matmuls are float32 on the CPU), as in builds that predate them.
  writeTestModel(join(directory, 'fp16'), { seed: 3, padding: 'right', config, dtype: 'fp16' });
  const load = (name: string) =>
    loadLanguageModel(join(directory, name), {
      executionProvider: 'cpu',
      threads: 1,
      tokenizer: createTestTokenizer(),
    });
  [stepped, older] = await Promise.all([load('fp32'), load('fp16')]);
});

afterAll(async () => {
  await Promise.all([stepped?.dispose(), older?.dispose()]);
  rmSync(directory, { recursive: true, force: true });
});

/** A cache of `width` positions filled with seeded values (stale beyond each row's length, as in a reused slot). */
function filledCache(model: LanguageModel, seed: number): KeyValueTensors {
  const cache = model.allocateCache(lengths.length, width);
  const random = createSeededRandom(seed);
  for (const value of [...cache.keys, ...cache.values]) {
    const data = value.data as Float32Array;
    for (let index = 0; index < data.length; index++) data[index] = random() * 2 - 1;
  }
  return cache;
}

function stepInputs(model: LanguageModel) {
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((length, row) => {
    mask.fill(1n, row * width, row * width + length + 1);
  });
  const random = createSeededRandom(11);
  const inputsEmbeds = Float32Array.from({ length: lengths.length * model.manifest.text.hiddenSize }, () => random());
  return { inputsEmbeds, batch: lengths.length, sequence: 1, attentionMask: mask, logitsToKeep: 1 };
}

describe('decode steps', () => {
  it('match GroupQueryAttention: same logits, and the new keys and values it writes at each row’s position', async () => {
    expect(stepped.decodeSteps).toBe(true);
    expect(readManifest(join(directory, 'fp32')).decodeSteps).toBe(true);
    // GQA, updating the cache in place: its presents are the whole cache with the new position written.
    const full = filledCache(stepped, 1);
    const reference = await stepped.runDecoder({ ...stepInputs(stepped), past: full, presentInto: full });
    const referenceLogits = reference.logits.slice();
    // The decode step over the same (untouched) cache: presents hold the new position only.
    const cache = filledCache(stepped, 1);
    const before = (cache.keys[1]!.data as Float32Array).slice();
    const step = await stepped.runDecoder({ ...stepInputs(stepped), past: cache, decodeStep: true });
    expect(step.present.keys[0]!.dims).toEqual([3, 2, 1, 16]);
    expect(cache.keys[1]!.data).toEqual(before);

    let logitDifference = 0;
    referenceLogits.forEach((value, index) => {
      logitDifference = Math.max(logitDifference, Math.abs(value - step.logits[index]!));
    });
    expect(logitDifference).toBeLessThan(1e-5);

    // Stored at each row's length, the new positions make the same cache GQA wrote.
    const hostCache = hostCaches(cache);
    storeNewPositions(
      hostCache,
      width,
      lengths.map((position, row) => ({ row, position })),
      step.present,
    );
    let cacheDifference = 0;
    for (const kind of ['keys', 'values'] as const) {
      full[kind].forEach((value, layer) => {
        const expected = value.data as Float32Array;
        const actual = hostCache[kind][layer]!;
        for (let index = 0; index < expected.length; index++) {
          cacheDifference = Math.max(cacheDifference, Math.abs(expected[index]! - actual[index]!));
        }
      });
    }
    expect(cacheDifference).toBeLessThan(1e-5);
  });

  it('are refused by a decoder built without them, which keeps its presents', async () => {
    expect(older.decodeSteps).toBe(false);
    expect(readManifest(join(directory, 'fp16')).decodeSteps).toBe(false);
    await expect(
      older.runDecoder({ ...stepInputs(older), past: older.allocateCache(3, width), decodeStep: true }),
    ).rejects.toThrow(/decode step/);
    const presents = await older.runDecoder({ ...stepInputs(older), past: older.allocateCache(3, width) });
    expect(presents.present.keys[0]!.dims).toEqual([3, 2, width, 16]);
  });

  it('refuse a position outside the cache', () => {
    const cache = { keys: [new Float32Array(2 * 4)], values: [new Float32Array(2 * 4)] };
    const added = stepped.allocateCache(1, 1);
    expect(() =>
      storeNewPositions(cache, 2, [{ row: 0, position: 2 }], {
        keys: added.keys.slice(0, 1),
        values: added.values.slice(0, 1),
      }),
    ).toThrow(/outside a cache of 2 positions/);
  });

  it('are asked for at start only where a rebuild would give them', () => {
    expect(decodeStepAdvice(stepped, 'cpu')).toBeUndefined();
    // A float32 right-padded directory built before decode steps.
    const before = { manifest: stepped.manifest, decodeSteps: false };
    expect(decodeStepAdvice(before, 'cpu')).toMatch(/built before decode steps.*Rebuild it with build-model/);
    expect(decodeStepAdvice(before, 'cuda')).toMatch(/Rebuild/);
    expect(decodeStepAdvice(before, 'webgpu')).toBeUndefined();
    expect(decodeStepAdvice(older, 'cpu')).toBeUndefined();
    expect(
      decodeStepAdvice({ manifest: { ...stepped.manifest, decoderPadding: 'any' }, decodeSteps: false }, 'cpu'),
    ).toBeUndefined();
  });
});
