import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { HostSlotPool } from '../../workers/serving/slot-pool.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from '../runtime/support/test-model.ts';

let directory: string;
let model: LanguageModel;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'host-pool-'));
  writeTestModel(directory, { padding: 'right', config: testTextConfig({ maxPositions: 512 }) });
  model = await loadLanguageModel(directory, {
    executionProvider: 'cpu',
    threads: 1,
    tokenizer: createTestTokenizer(),
  });
});

afterAll(async () => {
  await model?.dispose();
  rmSync(directory, { recursive: true, force: true });
});

/** A value unique to (layer, kind, slot, head, position, element), exact in float32. */
const marker = (layer: number, kind: number, slot: number, head: number, position: number, element: number) =>
  ((((layer * 2 + kind) * 4 + slot) * 2 + head) * 512 + position) * 16 + element;

describe('HostSlotPool', () => {
  const { numLayers, numKvHeads } = testTextConfig();
  const headSize = testTextConfig().hiddenSize / testTextConfig().numHeads;

  /** Stores each slot's positions `[0, length)` through `append`, one decode step per position. */
  function fill(pool: HostSlotPool, lengths: readonly number[]): void {
    for (let position = 0; position < Math.max(...lengths); position++) {
      const rows = lengths.flatMap((length, row) => (position < length ? [{ row, position }] : []));
      const added = model.allocateCache(lengths.length, 1);
      for (const [kind, tensors] of [added.keys, added.values].entries()) {
        tensors.forEach((tensor, layer) => {
          const data = tensor.data as Float32Array;
          for (const { row } of rows) {
            for (let head = 0; head < numKvHeads; head++) {
              for (let element = 0; element < headSize; element++) {
                data[(row * numKvHeads + head) * headSize + element] = marker(
                  layer,
                  kind,
                  row,
                  head,
                  position,
                  element,
                );
              }
            }
          }
        });
      }
      pool.append(rows, added);
    }
  }

  /** Checks that every slot holds its positions `[0, length)` in the current layout (`width` positions a slot). */
  function expectHeld(pool: HostSlotPool, lengths: readonly number[], width: number): void {
    const view = pool.rows(lengths.length);
    expect(view.keys[0]!.dims).toEqual([lengths.length, numKvHeads, width, headSize]);
    let wrong = 0;
    for (const [kind, tensors] of [view.keys, view.values].entries()) {
      tensors.forEach((tensor, layer) => {
        const data = tensor.data as Float32Array;
        lengths.forEach((length, slot) => {
          for (let head = 0; head < numKvHeads; head++) {
            for (let position = 0; position < length; position++) {
              for (let element = 0; element < headSize; element++) {
                const index = ((slot * numKvHeads + head) * width + position) * headSize + element;
                if (data[index] !== marker(layer, kind, slot, head, position, element)) wrong++;
              }
            }
          }
        });
      });
    }
    expect(wrong).toBe(0);
    expect(numLayers).toBe(tensors(view).length / 2);
  }
  const tensors = (view: ReturnType<HostSlotPool['rows']>) => [...view.keys, ...view.values];

  it('keeps every slot’s cached positions when laid out wider and narrower', () => {
    const pool = new HostSlotPool(model, 3);
    const lengths = [100, 60, 37];
    fill(pool, lengths);
    expectHeld(pool, lengths, 128);

    // Wider: slot 0 grows past 128 positions.
    pool.fit(300, lengths);
    expectHeld(pool, lengths, 384);
    const grown = [300, 60, 37];
    fill(pool, grown);
    expectHeld(pool, grown, 384);

    // Not narrower while more than half the width is needed; narrower once half will do.
    pool.fit(200, [200, 60, 37]);
    expectHeld(pool, grown, 384);
    const shorter = [120, 60, 37];
    pool.fit(121, shorter);
    expectHeld(pool, shorter, 128);
  });

  it('commits its memory when made, not on the first steps that reach it', () => {
    const before = process.memoryUsage().rss;
    const pool = new HostSlotPool(model, 128);
    const committed = process.memoryUsage().rss - before;
    // 128 slots × 512 positions × 512 bytes a position (2 layers, keys and values, 2 kv heads × 16 floats).
    expect(pool.bytesPerSlot * pool.size).toBe(32 * 2 ** 20);
    expect(committed).toBeGreaterThan(0.9 * pool.bytesPerSlot * pool.size);
  });

  it('refuses to store a position outside its current layout', () => {
    const pool = new HostSlotPool(model, 2);
    const added = model.allocateCache(2, 1);
    expect(() => pool.append([{ row: 1, position: 128 }], added)).toThrow(/outside a cache of 128 positions/);
  });
});
