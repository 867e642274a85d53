import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presets, type VisionConfig } from '../../workers/model/config.ts';
import { BuildProgress, type BuildProgressEvent } from '../../workers/model/progress.ts';
import {
  buildVisionGraph,
  visionInputName,
  visionOutputName,
  visionTensorCount,
} from '../../workers/model/vision/vision-graph.ts';
import { blip2WeightSpecs, randomVisionWeights } from '../../workers/model/weights/blip2-weight-specs.ts';
import { fillNormal, RandomWeightSource } from '../../workers/model/weights/random-weights.ts';
import type { FloatTensor, WeightSource } from '../../workers/model/weights/weight-source.ts';
import { createSession, tensor } from '../../workers/runtime/onnx-session.ts';
import { referenceVisionForward } from '../support/vision-reference-forward.ts';

const config: VisionConfig = presets.tiny.vision;
const pixelCount = 3 * config.imageSize * config.imageSize;

/** Runs a vision.onnx on CPU and returns `image_embeddings`. */
async function runVision(path: string, pixels: Float32Array, batch: number): Promise<Float32Array> {
  const session = await createSession(path, { executionProvider: 'cpu', threads: 1 });
  try {
    const input = tensor('float32', pixels, [batch, 3, config.imageSize, config.imageSize]);
    const result = await session.run({ [visionInputName]: input });
    const output = result[visionOutputName];
    if (!output) throw new Error('no image_embeddings output');
    expect(output.dims).toEqual([batch, config.qformer.numQueries, config.projectionSize]);
    return output.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDifference(left: ArrayLike<number>, right: ArrayLike<number>): number {
  let maximum = 0;
  for (let index = 0; index < left.length; index++) {
    maximum = Math.max(maximum, Math.abs((left[index] ?? 0) - (right[index] ?? 0)));
  }
  return maximum;
}

function maxAbs(values: ArrayLike<number>): number {
  let maximum = 0;
  for (let index = 0; index < values.length; index++) maximum = Math.max(maximum, Math.abs(values[index] ?? 0));
  return maximum;
}

/** Normalized-looking pixels: N(0, scale²). */
function randomPixels(batch: number, seed: number, scale: number): Float32Array {
  const pixels = new Float32Array(batch * pixelCount);
  fillNormal(pixels, seed, 'pixels', 0, scale);
  return pixels;
}

describe('vision.onnx against the float64 BLIP-2 reference (tiny preset)', () => {
  let directory: string;
  let graphPath: string;
  const weights = randomVisionWeights('tiny', 7);

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'vision-graph-'));
    graphPath = join(directory, 'vision.onnx');
    buildVisionGraph({ out: graphPath, config, weights, dtype: 'fp32' });
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('matches the reference for a batch of two images within 1e-4 of the output scale', async () => {
    const pixels = randomPixels(2, 11, 1);
    const actual = await runVision(graphPath, pixels, 2);
    const expected = referenceVisionForward(config, weights, pixels, 2);
    const scale = maxAbs(expected);
    const difference = maxAbsDifference(actual, expected);
    console.info(
      `vision fp32 vs float64 reference: max |diff| ${difference.toExponential(2)}, max |ref| ${scale.toFixed(3)}`,
    );
    expect(scale).toBeGreaterThan(0.1);
    expect(difference).toBeLessThanOrEqual(1e-4 * scale);
    // The two images differ, so per-image rows differ: the batch dimension is not collapsed.
    const perImage = config.qformer.numQueries * config.projectionSize;
    expect(maxAbsDifference(actual.subarray(0, perImage), actual.subarray(perImage))).toBeGreaterThan(1e-3);
  });

  it('plumbs the LayerNorm epsilon: 1e-6 in the graph agrees with a 1e-6 reference, not with 1e-5', async () => {
    // Faint pixels keep the first LayerNorm's input variance small (≈ 4e-4, from the position embedding), where the
    // epsilon is no longer negligible; this is the regime in which the 1e-5 vs 1e-6 bug changes outputs.
    const pixels = randomPixels(1, 13, 0.01);
    expect(config.layerNormEps).toBe(1e-6);
    const actual = await runVision(graphPath, pixels, 1);
    const matching = maxAbsDifference(actual, referenceVisionForward(config, weights, pixels, 1));
    const mismatched = maxAbsDifference(
      actual,
      referenceVisionForward(config, weights, pixels, 1, { visionLayerNormEps: 1e-5 }),
    );
    console.info(
      `eps check: graph(1e-6) vs ref(1e-6) ${matching.toExponential(2)}, vs ref(1e-5) ${mismatched.toExponential(2)}`,
    );
    expect(mismatched).toBeGreaterThan(100 * matching);
    expect(mismatched).toBeGreaterThan(1e-3);

    const otherDirectory = join(directory, 'eps-1e-5');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(otherDirectory);
    const otherConfig = { ...config, layerNormEps: 1e-5 };
    const otherPath = join(otherDirectory, 'vision.onnx');
    buildVisionGraph({ out: otherPath, config: otherConfig, weights, dtype: 'fp32' });
    const other = await runVision(otherPath, pixels, 1);
    const otherReference = referenceVisionForward(otherConfig, weights, pixels, 1);
    expect(maxAbsDifference(other, otherReference)).toBeLessThan(mismatched / 100);
  });

  it('stores fp16 weights and still tracks the reference loosely', async () => {
    const fp16Path = join(directory, 'vision-fp16.onnx');
    buildVisionGraph({ out: fp16Path, config, weights, dtype: 'fp16' });
    const pixels = randomPixels(1, 17, 1);
    const actual = await runVision(fp16Path, pixels, 1);
    const expected = referenceVisionForward(config, weights, pixels, 1);
    const difference = maxAbsDifference(actual, expected);
    console.info(`vision fp16 vs float64 reference: max |diff| ${difference.toExponential(2)}`);
    expect(difference).toBeLessThanOrEqual(2e-2 * maxAbs(expected));
  });

  it('fails with the tensor name when a weight is missing', () => {
    const specs = blip2WeightSpecs(config);
    specs.delete('qformer.encoder.layer.1.output_query.dense.weight');
    const partial = new RandomWeightSource(7, specs, 'partial tiny');
    expect(() =>
      buildVisionGraph({ out: join(directory, 'partial.onnx'), config, weights: partial, dtype: 'fp32' }),
    ).toThrow(/qformer\.encoder\.layer\.1\.output_query\.dense\.weight not found in random weights \(partial tiny/);
  });

  it('rejects a transposed weight of the right size, naming it and its shape', () => {
    const transposedName = 'vision_model.encoder.layers.0.mlp.fc1.weight';
    const transposed: WeightSource = {
      description: 'transposed test weights',
      has: (name) => weights.has(name),
      get: (name): FloatTensor => {
        const tensor = weights.get(name);
        return name === transposedName ? { dims: [...tensor.dims].reverse(), data: tensor.data } : tensor;
      },
      close: () => {},
    };
    expect(() =>
      buildVisionGraph({ out: join(directory, 'transposed.onnx'), config, weights: transposed, dtype: 'fp32' }),
    ).toThrow(`tensor ${transposedName} has shape [64, 128], expected [128, 64] in transposed test weights`);
  });

  it('reports every tensor it reads to the shared build progress', () => {
    const events: BuildProgressEvent[] = [];
    const expected = visionTensorCount(config);
    const progress = new BuildProgress(expected.tensors, expected.parameters, (event) => events.push(event));
    buildVisionGraph({ out: join(directory, 'progress.onnx'), config, weights, dtype: 'fp32', progress });
    const last = events.at(-1);
    expect(last?.stage).toBe('vision');
    expect(last?.tensorsDone).toBe(expected.tensors);
    expect(last?.secondsLeft).toBe(0);
    expect(last?.bytesWritten).toBeGreaterThan(4 * 0.9 * expected.parameters);
  });
});

describe('BLIP-2 weight specs at the real Ziya-BLIP2-14B-Visual sizes', () => {
  it('hold about 1.09 B parameters: ViT-g 39 × 1408, Q-Former 12 × 768 with 6 cross-attentions, 768 → 5120', () => {
    const vision = presets['ziya-14b'].vision;
    const specs = blip2WeightSpecs(vision);
    expect(specs.get('vision_model.encoder.layers.38.self_attn.qkv.weight')?.dims).toEqual([4224, 1408]);
    expect(specs.has('vision_model.encoder.layers.39.self_attn.qkv.weight')).toBe(false);
    expect(specs.get('vision_model.embeddings.position_embedding')?.dims).toEqual([1, 257, 1408]);
    expect(specs.get('qformer.encoder.layer.10.crossattention.attention.key.weight')?.dims).toEqual([768, 1408]);
    expect(specs.has('qformer.encoder.layer.11.crossattention.attention.key.weight')).toBe(false);
    expect(specs.get('language_projection.weight')?.dims).toEqual([5120, 768]);
    const { parameters } = visionTensorCount(vision);
    expect(parameters).toBeGreaterThan(1.08e9);
    expect(parameters).toBeLessThan(1.1e9);
  });
});
