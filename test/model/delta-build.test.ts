import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildModel } from '../../workers/model/build-model.ts';
import { presets, type TextConfig } from '../../workers/model/config.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import type { BuildProgressEvent } from '../../workers/model/progress.ts';
import { llamaGlobalTensorNames, llamaWeightSpecs } from '../../workers/model/weights/llama-weight-specs.ts';
import { RandomWeightSource } from '../../workers/model/weights/random-weights.ts';
import type { FloatTensor, WeightSource } from '../../workers/model/weights/weight-source.ts';
import { writeTorchCheckpoint } from '../support/torch-save.ts';
import { cpuSession, embedIds, runDecoder, writeHfConfig, writeSafetensors } from './builder-test-support.ts';

/** Ziya's vocabulary growth at the tiny geometry: LLaMA's 32000 tokens, the delta's 39424. */
const baseConfig: TextConfig = { ...presets.tiny.text, vocabSize: 32000 };
const targetConfig: TextConfig = { ...presets.tiny.text, vocabSize: 39424 };
const baseWeights = new RandomWeightSource(11, llamaWeightSpecs(baseConfig), 'tiny base');
const deltaWeights = new RandomWeightSource(12, llamaWeightSpecs(targetConfig), 'tiny delta');
const names = [...llamaWeightSpecs(targetConfig).keys()];
/** Uses the new rows (≥ 32000) of the embedding; the head's new rows can win the argmax. */
const prompt = [1, 32001, 39423, 450, 36000, 13];

let temporary: string;
let base: string;
let delta: string;
let summed: string;

/**
 * The target as the test computes it, following Fengshenbang-LM's apply_delta.py: float32 base + delta, except the
 * embedding and lm_head, which the delta holds whole (its 39424 rows replace LLaMA's 32000).
 */
function summedTensor(name: string): FloatTensor {
  const deltaTensor = deltaWeights.get(name);
  if (name === llamaGlobalTensorNames.embedding || name === llamaGlobalTensorNames.languageModelHead)
    return deltaTensor;
  const baseTensor = baseWeights.get(name);
  const data = Float32Array.from(deltaTensor.data);
  for (let index = 0; index < baseTensor.data.length; index++) {
    data[index] = Math.fround(deltaTensor.data[index]! + baseTensor.data[index]!);
  }
  return { dims: deltaTensor.dims, data };
}

/** A delta checkpoint in two safetensors shards with an index (the first shard ends after layer 0). */
function writeDelta(directory: string, tensor: (name: string) => FloatTensor, omit?: string): void {
  mkdirSync(directory, { recursive: true });
  writeHfConfig(directory, targetConfig);
  const weightMap: Record<string, string> = {};
  const shardOf = (name: string) => (name.startsWith('model.layers.0.') || name === names[0] ? 1 : 2);
  for (const shard of [1, 2]) {
    const file = `model-0000${shard}-of-00002.safetensors`;
    const tensors = names
      .filter((name) => shardOf(name) === shard && name !== omit)
      .map((name) => {
        weightMap[name] = file;
        return { name, dtype: 'F32' as const, tensor: tensor(name) };
      });
    writeSafetensors(join(directory, file), tensors);
  }
  writeFileSync(join(directory, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
  // The delta's tokenizer knows the 7424 new tokens; the test only needs it to differ from the base's.
  const tokenizer = JSON.parse(readFileSync(join(inject('tinyModelDir'), 'tokenizer.json'), 'utf8'));
  tokenizer.added_tokens.push({ id: 39423, content: '<ziya_extra>', special: false });
  writeFileSync(join(directory, 'tokenizer.json'), JSON.stringify(tokenizer));
}

/** A base checkpoint as one PyTorch `pytorch_model.bin`. */
function writeBase(directory: string, config: TextConfig, weights: WeightSource): void {
  mkdirSync(directory, { recursive: true });
  writeHfConfig(directory, config);
  writeTorchCheckpoint(
    join(directory, 'pytorch_model.bin'),
    [...llamaWeightSpecs(config).keys()].map((name) => ({ name, ...weights.get(name) })),
  );
  writeFileSync(join(directory, 'tokenizer.json'), readFileSync(join(inject('tinyModelDir'), 'tokenizer.json')));
}

beforeAll(() => {
  temporary = mkdtempSync(join(tmpdir(), 'delta-build-'));
  base = join(temporary, 'llama-base');
  delta = join(temporary, 'ziya-delta');
  summed = join(temporary, 'ziya-summed');
  writeBase(base, baseConfig, baseWeights);
  writeDelta(delta, (name) => deltaWeights.get(name));
  writeDelta(summed, summedTensor);
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

/** Greedy continuation through a build's decoder (the whole sequence re-run each step). */
async function greedy(directory: string, steps: number): Promise<number[]> {
  const session = await cpuSession(join(directory, 'decoder.onnx'));
  const table = summedTensor(llamaGlobalTensorNames.embedding).data;
  const ids = [...prompt];
  for (let step = 0; step < steps; step++) {
    const { logits } = await runDecoder(session, targetConfig, {
      embeds: embedIds(table, targetConfig.hiddenSize, ids),
      batch: 1,
      sequence: ids.length,
      mask: ids.map(() => 1),
      logitsToKeep: 1,
    });
    let best = 0;
    for (let token = 1; token < logits.length; token++) if (logits[token]! > logits[best]!) best = token;
    ids.push(best);
  }
  return ids.slice(prompt.length);
}

describe('build-model --delta-base', () => {
  it('gives, bitwise at f32, the build from a checkpoint summed by the test, and the same greedy continuation', async () => {
    const fromDelta = join(temporary, 'out-delta');
    const fromSum = join(temporary, 'out-summed');
    buildModel({ out: fromDelta, from: delta, deltaBase: base, dtype: 'fp32' });
    buildModel({ out: fromSum, from: summed, dtype: 'fp32' });
    for (const file of ['embed.onnx', 'embed.onnx.data', 'decoder.onnx', 'decoder.onnx.data']) {
      expect(readFileSync(join(fromDelta, file)).equals(readFileSync(join(fromSum, file))), file).toBe(true);
    }
    // The tokenizer is the delta repository's, and the vocabulary the delta's.
    expect(readFileSync(join(fromDelta, 'tokenizer.json')).equals(readFileSync(join(delta, 'tokenizer.json')))).toBe(
      true,
    );
    const manifest = readManifest(fromDelta);
    expect(manifest.text.vocabSize).toBe(39424);
    expect(manifest.inputs?.map((input) => input.role)).toEqual(['text', 'delta-base']);
    expect(manifest.inputs?.[1]?.files.find((file) => file.path === 'pytorch_model.bin')?.digest).toMatch(
      /^sha256:[0-9a-f]{64}$/,
    );
    // The embedding table is the delta's whole, all 39424 rows (LLaMA's 32000 are not added to it), ...
    const deltaEmbedding = deltaWeights.get(llamaGlobalTensorNames.embedding).data;
    expect(readFileSync(join(fromDelta, 'embed.onnx.data')).equals(Buffer.from(deltaEmbedding.buffer))).toBe(true);
    // ... while the layers are not the delta's alone: a build from the delta without its base differs.
    const deltaAlone = join(temporary, 'out-delta-alone');
    buildModel({ out: deltaAlone, from: delta, dtype: 'fp32' });
    expect(
      readFileSync(join(deltaAlone, 'decoder.onnx.data')).equals(readFileSync(join(fromDelta, 'decoder.onnx.data'))),
    ).toBe(false);

    const continuation = await greedy(fromDelta, 6);
    expect(continuation).toEqual(await greedy(fromSum, 6));
    expect(continuation).toHaveLength(6);
  });

  it('refuses --delta-base without --from', () => {
    expect(() =>
      buildModel({ out: join(temporary, 'never0'), preset: 'tiny', deltaBase: base, dtype: 'fp32' }),
    ).toThrow('--delta-base needs --from, the delta checkpoint to apply to it');
  });

  it('refuses a base of another size before converting anything', () => {
    const other = join(temporary, 'llama-other');
    const otherConfig = { ...baseConfig, numLayers: 1 };
    writeBase(other, otherConfig, new RandomWeightSource(1, llamaWeightSpecs(otherConfig), 'other'));
    const events: BuildProgressEvent[] = [];
    expect(() =>
      buildModel({
        out: join(temporary, 'never1'),
        from: delta,
        deltaBase: other,
        dtype: 'fp32',
        onProgress: (event) => events.push(event),
      }),
    ).toThrow(
      /^the base .*llama-other.* is a LLaMA with hidden 64, 1 layers, .* but the delta is for hidden 64, 2 layers, .*vocabulary 39424: give --delta-base the LLaMA the delta was made from$/,
    );
    expect(events.filter((event) => event.tensorsDone > 0)).toEqual([]);
  });

  it('refuses a delta with a missing tensor, naming it, before converting anything', () => {
    const incomplete = join(temporary, 'ziya-incomplete');
    writeDelta(incomplete, (name) => deltaWeights.get(name), 'model.layers.1.mlp.down_proj.weight');
    const events: BuildProgressEvent[] = [];
    expect(() =>
      buildModel({
        out: join(temporary, 'never2'),
        from: incomplete,
        deltaBase: base,
        dtype: 'fp32',
        onProgress: (event) => events.push(event),
      }),
    ).toThrow(`tensor model.layers.1.mlp.down_proj.weight not found in the delta ${incomplete}`);
    expect(events.filter((event) => event.tensorsDone > 0)).toEqual([]);
  });

  it('names the first tensor whose shape differs from what its config implies', () => {
    const misshapen = join(temporary, 'ziya-misshapen');
    writeDelta(misshapen, (name) =>
      name === 'model.layers.0.mlp.up_proj.weight'
        ? { dims: [160, 64], data: new Float32Array(160 * 64) }
        : deltaWeights.get(name),
    );
    expect(() =>
      buildModel({ out: join(temporary, 'never3'), from: misshapen, deltaBase: base, dtype: 'fp32' }),
    ).toThrow(
      `tensor model.layers.0.mlp.up_proj.weight is [160, 64] in the delta ${misshapen}, but its config.json implies [176, 64]`,
    );
  });
});
