import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValueTensors } from '../../workers/runtime/decoder-model.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createTestTokenizer, writeTestModel } from './support/test-model.ts';

/**
 * Largest difference between cached decoding and recomputation we accept, per weight format (logits have a
 * standard deviation of about 4). Measured worst cases: fp32 6e-6, int4 4e-6, fp16 0 (its kernels round the same
 * way whether a row is computed in a prefill or a decode step); fp16 gets room for 11-bit rounding all the same.
 */
const tolerances = { fp32: 1e-4, fp16: 1e-2, int4: 1e-4 } as const;
type Dtype = keyof typeof tolerances;

let directory: string;
const models: Partial<Record<Dtype, LanguageModel>> = {};

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'runtime-cache-'));
  for (const dtype of Object.keys(tolerances) as Dtype[]) {
    writeTestModel(join(directory, dtype), { dtype });
    models[dtype] = await loadLanguageModel(join(directory, dtype), {
      executionProvider: 'cpu',
      threads: 1,
      tokenizer: createTestTokenizer(),
    });
  }
});

afterAll(async () => {
  await Promise.all(Object.values(models).map((model) => model.dispose()));
  rmSync(directory, { recursive: true, force: true });
});

function maxAbsDiff(left: Float32Array, right: Float32Array): number {
  expect(left.length).toBe(right.length);
  let worst = 0;
  for (let index = 0; index < left.length; index++) worst = Math.max(worst, Math.abs(left[index]! - right[index]!));
  return worst;
}

let model: LanguageModel;
const tokens = [1, 40, 73, 80, 80, 83, 15, 35, 90, 60, 61, 99, 100, 101];
const vocab = () => model.manifest.text.vocabSize;

/** Logits of every position from one run over the whole sequence. */
async function recomputed(): Promise<Float32Array> {
  const output = await model.runDecoder({
    inputsEmbeds: await model.embedTokens(tokens),
    batch: 1,
    sequence: tokens.length,
    attentionMask: new BigInt64Array(tokens.length).fill(1n),
    past: model.emptyCache(1),
    logitsToKeep: tokens.length,
  });
  return output.logits;
}

/** Prefill `prefix` tokens, then one token per run; logits of every position after the prefix's last. */
async function cached(prefix: number, shared: boolean): Promise<Float32Array[]> {
  const buffer = shared ? model.allocateCache(1, tokens.length) : undefined;
  let past: KeyValueTensors = buffer ?? model.emptyCache(1);
  const rows: Float32Array[] = [];
  const mask = new BigInt64Array(tokens.length).fill(1n);
  const first = await model.runDecoder({
    inputsEmbeds: await model.embedTokens(tokens.slice(0, prefix)),
    batch: 1,
    sequence: prefix,
    attentionMask: mask.subarray(0, prefix),
    past,
    logitsToKeep: 1,
    ...(buffer ? { presentInto: buffer } : {}),
  });
  rows.push(first.logits.slice());
  past = first.present;
  for (let position = prefix; position < tokens.length; position++) {
    const output = await model.runDecoder({
      inputsEmbeds: await model.embedTokens([tokens[position]!]),
      batch: 1,
      sequence: 1,
      attentionMask: mask.subarray(0, position + 1),
      past,
      logitsToKeep: 1,
      ...(buffer ? { presentInto: buffer } : {}),
    });
    rows.push(output.logits.slice());
    past = output.present;
  }
  return rows;
}

describe.each(Object.keys(tolerances) as Dtype[])(
  'cached decoding equals recomputing the whole sequence, %s',
  (dtype) => {
    const tolerance = tolerances[dtype];
    for (const shared of [false, true]) {
      it(`${shared ? 'shared KV buffer' : 'presents chained to pasts'}, prefill of 1, 5 and 13 tokens`, async () => {
        model = models[dtype]!;
        expect(model.cacheType).toBe(dtype === 'fp16' ? 'float16' : 'float32');
        const full = await recomputed();
        expect(full.length).toBe(tokens.length * vocab());
        for (const prefix of [1, 5, 13]) {
          const rows = await cached(prefix, shared);
          expect(rows).toHaveLength(tokens.length - prefix + 1);
          rows.forEach((row, index) => {
            const position = prefix - 1 + index;
            const expected = full.subarray(position * vocab(), (position + 1) * vocab());
            expect(maxAbsDiff(row, expected)).toBeLessThan(tolerance);
          });
        }
        // The logits are not trivially equal across positions (the comparison would be meaningless otherwise).
        expect(maxAbsDiff(full.subarray(0, vocab()), full.subarray(vocab(), 2 * vocab()))).toBeGreaterThan(0.1);
      });
    }
  },
);
