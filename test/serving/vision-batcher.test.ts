import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisionEncoder } from '../../workers/chat/vision-encoder.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { createSeededRandom } from '../../workers/runtime/seeded-random.ts';
import { VisionBatcher } from '../../workers/serving/vision-batcher.ts';
import { tinyVisualModelDirectory } from '../chat/tiny-visual-model.ts';

let encoder: VisionEncoder;
let images: Float32Array[];

beforeAll(async () => {
  const directory = tinyVisualModelDirectory();
  const manifest = readManifest(directory);
  encoder = await VisionEncoder.load(directory, manifest, { executionProvider: 'cpu', threads: 1 });
  const size = manifest.preprocessing.imageSize;
  const random = createSeededRandom(3);
  images = [0, 1, 2].map(() => Float32Array.from({ length: 3 * size * size }, () => random() * 4 - 2));
});

afterAll(async () => {
  await encoder?.dispose();
});

describe('VisionBatcher', () => {
  it('runs images submitted together as one batch, each getting the vectors it gets alone', async () => {
    const alone: Float32Array[] = [];
    for (const pixels of images) alone.push(await encoder.encode(pixels));
    const batches: number[] = [];
    const batcher = new VisionBatcher(encoder, 8, (count) => batches.push(count));
    const together = await Promise.all(images.map((pixels) => batcher.encode(pixels)));
    expect(batches).toEqual([3]);
    let largest = 0;
    together.forEach((vectors, index) => {
      expect(vectors.length).toBe(alone[index]!.length);
      vectors.forEach((value, position) => {
        largest = Math.max(largest, Math.abs(value - alone[index]![position]!));
      });
    });
    expect(largest).toBeLessThan(1e-4);
    expect(together[0]).not.toEqual(together[1]);
  });

  it('splits at its largest batch and drops an image whose signal fired before its run', async () => {
    const batches: number[] = [];
    const batcher = new VisionBatcher(encoder, 2, (count) => batches.push(count));
    const controller = new AbortController();
    const runs = images.map((pixels, index) => batcher.encode(pixels, index === 2 ? controller.signal : undefined));
    controller.abort(new Error('gone'));
    const settled = await Promise.allSettled(runs);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(batches).toEqual([2]);
  });
});
