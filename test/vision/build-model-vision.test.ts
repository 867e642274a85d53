import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BuildModelError, buildModel } from '../../workers/model/build-model.ts';
import { presets } from '../../workers/model/config.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { visionConfigToJson } from '../../workers/model/vision/vision-config-file.ts';
import { buildVisionGraph } from '../../workers/model/vision/vision-graph.ts';
import { randomVisionWeights } from '../../workers/model/weights/blip2-weight-specs.ts';
import { fillNormal } from '../../workers/model/weights/random-weights.ts';
import { writeTinyLlamaCheckpoint } from '../model/builder-test-support.ts';
import { writeTorchCheckpoint } from '../support/torch-save.ts';
import { referenceVisionForward } from '../support/vision-reference-forward.ts';
import { runTinyVision } from './run-tiny-vision.ts';

const vision = presets.tiny.vision;

function pixels(seed: number): Float32Array {
  const values = new Float32Array(3 * vision.imageSize * vision.imageSize);
  fillNormal(values, seed, 'pixels', 0, 1);
  return values;
}

function maxAbsDifference(left: ArrayLike<number>, right: ArrayLike<number>): number {
  let maximum = 0;
  for (let index = 0; index < left.length; index++) {
    maximum = Math.max(maximum, Math.abs((left[index] ?? 0) - (right[index] ?? 0)));
  }
  return maximum;
}

describe('build-model writes vision.onnx and the vision manifest', () => {
  it('the shared tiny model has vision.onnx matching the float64 reference on seed-0 weights', async () => {
    const directory = inject('tinyModelDir');
    const manifest = readManifest(directory);
    expect(manifest.files.vision).toBe('vision.onnx');
    expect(manifest.vision).toEqual(vision);
    const input = pixels(5);
    const actual = await runTinyVision(join(directory, 'vision.onnx'), input);
    const expected = referenceVisionForward(vision, randomVisionWeights('tiny', 0), input, 1);
    expect(maxAbsDifference(actual, expected)).toBeLessThan(1e-4);
  });

  describe('from checkpoints', () => {
    let temporary: string;
    let llama: string;
    beforeAll(() => {
      temporary = mkdtempSync(join(tmpdir(), 'build-model-vision-'));
      llama = writeTinyLlamaCheckpoint(join(temporary, 'Tiny-Llama'), join(inject('tinyModelDir'), 'tokenizer.json'));
    });
    afterAll(() => rmSync(temporary, { recursive: true, force: true }));

    function writeVisionCheckpoint(name: string, projectionSize: number): string {
      const directory = join(temporary, name);
      mkdirSync(directory);
      const config = { ...vision, projectionSize };
      writeFileSync(join(directory, 'config.json'), JSON.stringify(visionConfigToJson(config)));
      const weights = randomVisionWeights('tiny', 4);
      const tensors = weights.names().map((tensorName) => {
        const value = weights.get(tensorName);
        if (projectionSize === vision.projectionSize || !tensorName.startsWith('language_projection')) {
          return { name: tensorName, ...value };
        }
        // A different projection width: rebuild the projection tensors at that size.
        const dims = tensorName.endsWith('weight') ? [projectionSize, vision.qformer.hiddenSize] : [projectionSize];
        const data = new Float32Array(dims.reduce((product, size) => product * size, 1)).fill(0.01);
        return { name: tensorName, dims, data };
      });
      writeTorchCheckpoint(join(directory, 'pytorch_model.bin'), tensors, {
        archiveName: 'pytorch_model',
        zip64: true,
      });
      return directory;
    }

    it('reads the BLIP-2 pytorch_model.bin named by visionFrom (fp16 vision with an fp16 build)', async () => {
      const ziya = writeVisionCheckpoint('Ziya-Tiny-Visual', presets.tiny.text.hiddenSize);
      const out = join(temporary, 'model-fp16');
      const result = buildModel({ out, from: llama, visionFrom: ziya, dtype: 'fp16' });
      expect(result.files.map((file) => file.name)).toContain('vision.onnx.data');
      const manifest = readManifest(out);
      expect(manifest.vision).toEqual(vision);
      expect(manifest.files.vision).toBe('vision.onnx');
      const direct = join(temporary, 'direct-fp16.onnx');
      buildVisionGraph({ out: direct, config: vision, weights: randomVisionWeights('tiny', 4), dtype: 'fp16' });
      const input = pixels(8);
      expect(await runTinyVision(join(out, 'vision.onnx'), input)).toEqual(await runTinyVision(direct, input));
    });

    it('refuses a vision checkpoint whose projection does not fit the decoder', () => {
      const wide = writeVisionCheckpoint('Ziya-Wide-Visual', 80);
      let failure: unknown;
      try {
        buildModel({ out: join(temporary, 'model-wide'), from: llama, visionFrom: wide, dtype: 'fp32' });
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(BuildModelError);
      expect((failure as Error).message).toMatch(/projects to 80, but the decoder's hidden size is 64/);
    });
  });
});
