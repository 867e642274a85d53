import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { fromBfloat16, fromFloat16, toBfloat16, toFloat16 } from '../../workers/model/quantize/float16.ts';
import { openVisionCheckpoint } from '../../workers/model/vision/open-vision-checkpoint.ts';
import { readVisionConfig, visionConfigToJson } from '../../workers/model/vision/vision-config-file.ts';
import { buildVisionGraph } from '../../workers/model/vision/vision-graph.ts';
import { randomVisionWeights } from '../../workers/model/weights/blip2-weight-specs.ts';
import { PytorchCheckpointSource } from '../../workers/model/weights/pytorch-checkpoint-source.ts';
import { fillNormal } from '../../workers/model/weights/random-weights.ts';
import { ZipArchive } from '../../workers/model/weights/zip-archive.ts';
import { type TorchTensorSpec, writeTorchCheckpoint } from '../support/torch-save.ts';
import { runTinyVision } from './run-tiny-vision.ts';

const config = presets.tiny.vision;

function randomValues(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  fillNormal(values, seed, 'checkpoint-test', 0, 1);
  return values;
}

describe('PytorchCheckpointSource', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'torch-checkpoint-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('reads float32, float16 and bfloat16 tensors, views into a shared storage, and ZIP64 archives', () => {
    const matrix = randomValues(6 * 5, 1);
    const conv = randomValues(4 * 3 * 2 * 2, 2);
    const half = randomValues(7, 3);
    const brain = randomValues(9, 4);
    const viewA = randomValues(3, 5);
    const viewB = randomValues(4, 6);
    const tensors: TorchTensorSpec[] = [
      { name: 'layer.weight', dims: [6, 5], data: matrix },
      { name: 'conv.weight', dims: [4, 3, 2, 2], data: conv },
      { name: 'half.weight', dims: [7], data: half, dtype: 'float16' },
      { name: 'brain.weight', dims: [3, 3], data: brain, dtype: 'bfloat16' },
      { name: 'view.a', dims: [3], data: viewA, storage: 'shared' },
      { name: 'view.b', dims: [2, 2], data: viewB, storage: 'shared' },
    ];
    for (const zip64 of [false, true]) {
      const path = join(directory, `mixed-${zip64}.bin`);
      writeTorchCheckpoint(path, tensors, { zip64, archiveName: 'pytorch_model' });
      const source = new PytorchCheckpointSource(path);
      try {
        expect(source.names()).toEqual(tensors.map((spec) => spec.name));
        expect(source.get('layer.weight')).toEqual({ dims: [6, 5], data: matrix });
        expect(source.get('conv.weight').dims).toEqual([4, 3, 2, 2]);
        expect(source.get('conv.weight').data).toEqual(conv);
        expect(source.get('half.weight').data).toEqual(fromFloat16(toFloat16(half)));
        const brainRead = source.get('brain.weight').data;
        expect(brainRead).toEqual(fromBfloat16(toBfloat16(brain)));
        for (let index = 0; index < brain.length; index++) {
          // bfloat16 keeps 8 significant bits: rounding error at most 2^-9 relative.
          expect(Math.abs((brainRead[index] ?? 0) - (brain[index] ?? 0))).toBeLessThanOrEqual(
            Math.abs(brain[index] ?? 0) / 256,
          );
        }
        expect(source.get('view.a').data).toEqual(viewA);
        expect(source.get('view.b')).toEqual({ dims: [2, 2], data: viewB });
      } finally {
        source.close();
      }
    }
  });

  it('reads state dicts longer than one SETITEMS batch (1000 items) with LONG_BINPUT memo keys', () => {
    const path = join(directory, 'many.bin');
    const tensors = Array.from({ length: 2100 }, (_, index) => ({
      name: `block.${index}.bias`,
      dims: [2],
      data: Float32Array.of(index, -index),
    }));
    writeTorchCheckpoint(path, tensors);
    const source = new PytorchCheckpointSource(path);
    expect(source.names()).toHaveLength(2100);
    expect(source.get('block.2099.bias').data).toEqual(Float32Array.of(2099, -2099));
    expect(source.get('block.1000.bias').data).toEqual(Float32Array.of(1000, -1000));
    source.close();
  });

  it('finds a state dict nested under "model" as LAVIS saves it', () => {
    const path = join(directory, 'nested.bin');
    const values = randomValues(4, 9);
    writeTorchCheckpoint(path, [{ name: 'query_tokens', dims: [1, 2, 2], data: values }], { nestUnder: 'model' });
    const source = new PytorchCheckpointSource(path);
    expect(source.get('query_tokens')).toEqual({ dims: [1, 2, 2], data: values });
    source.close();
  });

  it('names the tensor and the file when a tensor is missing', () => {
    const path = join(directory, 'partial.bin');
    writeTorchCheckpoint(path, [{ name: 'query_tokens', dims: [2], data: randomValues(2, 1) }]);
    const source = new PytorchCheckpointSource(path);
    expect(() => source.get('language_projection.weight')).toThrow(
      `tensor language_projection.weight not found in ${path}`,
    );
    source.close();
  });

  it('refuses a storage type named like an Object member (constructor, __proto__), naming it and the tensor', () => {
    for (const storageClass of ['constructor', '__proto__', 'toString']) {
      const path = join(directory, `storage-${storageClass}.bin`);
      writeTorchCheckpoint(path, [{ name: 'query_tokens', dims: [2], data: randomValues(2, 3), storageClass }]);
      const source = new PytorchCheckpointSource(path);
      expect(() => source.get('query_tokens')).toThrow(
        `tensor query_tokens has unsupported storage type "${storageClass}" (supported: FloatStorage, HalfStorage, BFloat16Storage, DoubleStorage) in ${path}`,
      );
      source.close();
    }
  });

  it('rejects files that are not torch zip checkpoints with the file name', () => {
    const legacy = join(directory, 'legacy.bin');
    writeFileSync(legacy, Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]));
    expect(() => new PytorchCheckpointSource(legacy)).toThrow(/legacy\.bin: not a zip archive.*legacy pre-1\.6/);
  });

  it('reads member bytes at their offsets without loading the archive', () => {
    const path = join(directory, 'offsets.bin');
    const values = randomValues(100, 3);
    writeTorchCheckpoint(path, [{ name: 'a', dims: [100], data: values }], { zip64: true });
    const archive = new ZipArchive(path);
    const member = archive.entry('archive/data/0');
    expect(member?.dataOffset ?? -1).toBeGreaterThan(0);
    expect((member?.dataOffset ?? 1) % 64).toBe(0); // PyTorch aligns storages to 64 bytes
    const slice = archive.read(member!, 40, 8);
    expect(new Float32Array(slice.buffer)).toEqual(values.subarray(10, 12));
    archive.close();
  });
});

describe('vision.onnx from a pytorch_model.bin checkpoint directory', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'vision-checkpoint-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('reads config.json into a VisionConfig and defaults absent fields to Ziya-BLIP2-14B', () => {
    const tinyDirectory = join(directory, 'config-only');
    mkdirSync(tinyDirectory);
    writeFileSync(join(tinyDirectory, 'config.json'), JSON.stringify(visionConfigToJson(config)));
    expect(readVisionConfig(tinyDirectory)).toEqual(config);
    writeFileSync(join(tinyDirectory, 'config.json'), JSON.stringify({ vision_config: { layer_norm_eps: 1e-5 } }));
    expect(readVisionConfig(tinyDirectory)).toEqual({ ...presets['ziya-14b'].vision, layerNormEps: 1e-5 });
    expect(readVisionConfig(tinyDirectory, { layerNormEps: 1e-6 }).layerNormEps).toBe(1e-6);
    writeFileSync(join(tinyDirectory, 'config.json'), JSON.stringify({ qformer_config: { num_attention_heads: 'x' } }));
    expect(() => readVisionConfig(tinyDirectory)).toThrow(/config\.json: qformer_config\.num_attention_heads must be/);
  });

  it('builds the same vision.onnx outputs as from the random weights it was saved from', async () => {
    const weights = randomVisionWeights('tiny', 3);
    const checkpointDirectory = join(directory, 'ziya-tiny');
    mkdirSync(checkpointDirectory);
    writeFileSync(join(checkpointDirectory, 'config.json'), JSON.stringify(visionConfigToJson(config)));
    const tensors = weights.names().map((name) => ({ name, ...weights.get(name) }));
    writeTorchCheckpoint(join(checkpointDirectory, 'pytorch_model.bin'), tensors, { archiveName: 'pytorch_model' });

    const checkpoint = openVisionCheckpoint(checkpointDirectory);
    expect(checkpoint.config).toEqual(config);
    const fromCheckpoint = join(directory, 'from-checkpoint.onnx');
    const fromRandom = join(directory, 'from-random.onnx');
    try {
      buildVisionGraph({ out: fromCheckpoint, config: checkpoint.config, weights: checkpoint.weights, dtype: 'fp32' });
    } finally {
      checkpoint.weights.close();
    }
    buildVisionGraph({ out: fromRandom, config, weights, dtype: 'fp32' });
    const pixels = randomValues(3 * config.imageSize * config.imageSize, 21);
    const expected = await runTinyVision(fromRandom, pixels);
    const actual = await runTinyVision(fromCheckpoint, pixels);
    expect(actual.length).toBe(config.qformer.numQueries * config.projectionSize);
    expect(actual).toEqual(expected);
  });

  it('fails naming the tensor and the checkpoint file when the checkpoint lacks a BLIP-2 tensor', () => {
    const weights = randomVisionWeights('tiny', 3);
    const checkpointDirectory = join(directory, 'ziya-partial');
    mkdirSync(checkpointDirectory);
    writeFileSync(join(checkpointDirectory, 'config.json'), JSON.stringify(visionConfigToJson(config)));
    const tensors = weights
      .names()
      .filter((name) => name !== 'vision_model.encoder.layers.1.self_attn.v_bias')
      .map((name) => ({ name, ...weights.get(name) }));
    const checkpointPath = join(checkpointDirectory, 'pytorch_model.bin');
    writeTorchCheckpoint(checkpointPath, tensors);
    const checkpoint = openVisionCheckpoint(checkpointDirectory);
    try {
      expect(() =>
        buildVisionGraph({ out: join(directory, 'partial.onnx'), config, weights: checkpoint.weights, dtype: 'fp32' }),
      ).toThrow(`tensor vision_model.encoder.layers.1.self_attn.v_bias not found in ${checkpointPath}`);
    } finally {
      checkpoint.weights.close();
    }
  });
});
