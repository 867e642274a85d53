import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { openVisionCheckpoint } from '../../workers/model/vision/open-vision-checkpoint.ts';
import { visionConfigToJson } from '../../workers/model/vision/vision-config-file.ts';
import { buildVisionGraph } from '../../workers/model/vision/vision-graph.ts';
import { randomVisionWeights, visionLayerTensorNames } from '../../workers/model/weights/blip2-weight-specs.ts';
import { fillNormal } from '../../workers/model/weights/random-weights.ts';
import { type TorchTensorSpec, writeTorchCheckpoint } from '../support/torch-save.ts';
import { runTinyVision } from './run-tiny-vision.ts';

const config = presets.tiny.vision;
const weights = randomVisionWeights('tiny', 7);

/**
 * The random weights as recent transformers versions save them: every layer's `q_bias` and `v_bias` replaced by one
 * `self_attn.qkv.bias` of `[q, key, v]` (`key` zeros unless given).
 */
function combinedLayout(key?: (layer: number) => Float32Array): TorchTensorSpec[] {
  const tensors: TorchTensorSpec[] = [];
  for (const name of weights.names()) {
    const match = /^vision_model\.encoder\.layers\.(\d+)\.self_attn\.(q|v)_bias$/.exec(name);
    if (match === null) {
      tensors.push({ name, ...weights.get(name) });
      continue;
    }
    if (match[2] === 'v') continue;
    const layer = Number(match[1]);
    const names = visionLayerTensorNames(layer);
    const query = weights.get(names.queryBias).data;
    const value = weights.get(names.valueBias).data;
    const hidden = query.length;
    const combined = new Float32Array(3 * hidden);
    combined.set(query, 0);
    if (key) combined.set(key(layer), hidden);
    combined.set(value, 2 * hidden);
    tensors.push({ name: names.qkvBias, dims: [3 * hidden], data: combined });
  }
  return tensors;
}

function writeCheckpoint(directory: string, tensors: TorchTensorSpec[]): void {
  mkdirSync(directory);
  writeFileSync(join(directory, 'config.json'), JSON.stringify(visionConfigToJson(config)));
  writeTorchCheckpoint(join(directory, 'pytorch_model.bin'), tensors, { archiveName: 'pytorch_model' });
}

describe('BLIP-2 vision attention bias layouts', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'qkv-bias-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('builds the same vision graph from a combined self_attn.qkv.bias (q, zeros, v) as from q_bias / v_bias', async () => {
    const checkpointDirectory = join(directory, 'combined');
    const tensors = combinedLayout();
    expect(tensors.some((spec) => spec.name.endsWith('.q_bias') || spec.name.endsWith('.v_bias'))).toBe(false);
    writeCheckpoint(checkpointDirectory, tensors);
    const checkpoint = openVisionCheckpoint(checkpointDirectory);
    const fromCombined = join(directory, 'combined.onnx');
    const fromSeparate = join(directory, 'separate.onnx');
    try {
      buildVisionGraph({ out: fromCombined, config, weights: checkpoint.weights, dtype: 'fp32' });
    } finally {
      checkpoint.weights.close();
    }
    buildVisionGraph({ out: fromSeparate, config, weights, dtype: 'fp32' });
    const pixels = new Float32Array(3 * config.imageSize * config.imageSize);
    fillNormal(pixels, 5, 'qkv-bias-pixels', 0, 1);
    expect(await runTinyVision(fromCombined, pixels)).toEqual(await runTinyVision(fromSeparate, pixels));
  });

  it('refuses a combined bias whose key third is not zero, naming the tensor, the element and the file', () => {
    const checkpointDirectory = join(directory, 'key-bias');
    writeCheckpoint(
      checkpointDirectory,
      combinedLayout((layer) => {
        const key = new Float32Array(config.hiddenSize);
        if (layer === 1) key[3] = 0.25;
        return key;
      }),
    );
    const checkpoint = openVisionCheckpoint(checkpointDirectory);
    try {
      expect(() =>
        buildVisionGraph({ out: join(directory, 'refused.onnx'), config, weights: checkpoint.weights, dtype: 'fp32' }),
      ).toThrow(
        `tensor vision_model.encoder.layers.1.self_attn.qkv.bias has a non-zero key bias (element ${config.hiddenSize + 3} is 0.25`,
      );
    } finally {
      checkpoint.weights.close();
    }
  });
});
