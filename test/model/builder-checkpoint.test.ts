import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildModel } from '../../workers/model/build-model.ts';
import { presets } from '../../workers/model/config.ts';
import { buildDecoderGraph } from '../../workers/model/decoder/build-decoder-graph.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { BuildProgress } from '../../workers/model/progress.ts';
import {
  sentencePieceModelType,
  sentencePieceType,
  serializeSentencePieceModel,
} from '../../workers/model/tokenizer/sentencepiece-model.ts';
import {
  llamaGlobalTensorNames,
  llamaWeightSpecs,
  randomTextWeights,
} from '../../workers/model/weights/llama-weight-specs.ts';
import { writeTorchCheckpoint } from '../support/torch-save.ts';
import {
  cpuSession,
  embedIds,
  maxAbsDifference,
  roundedWeights,
  runDecoder,
  type StoredDtype,
  writeHfConfig,
  writeSafetensors,
} from './builder-test-support.ts';

const config = presets.tiny.text;
const hidden = config.hiddenSize;
const prompt = [1, 29871, 30662, 31076, 13, 450, 4996, 17354];
const names = [...llamaWeightSpecs(config).keys()];
/** Layer 0's attention in float16, layer 1's MLP in bfloat16, everything else float32, as mixed checkpoints are. */
const storedDtype = (name: string): StoredDtype =>
  name.startsWith('model.layers.0.self_attn') ? 'F16' : name.startsWith('model.layers.1.mlp') ? 'BF16' : 'F32';
/** The first shard ends after layer 0. */
const shardOf = (name: string) => (name.startsWith('model.layers.0.') || name === names[0] ? 1 : 2);
const shardName = (shard: number) => `model-0000${shard}-of-00002.safetensors`;

let temporary: string;
let checkpoint: string;

/** Writes the seed-0 tiny weights as a sharded Hugging Face checkpoint, leaving out `omit` everywhere. */
function writeCheckpoint(directory: string, options: { omit?: string; omitFromShardOnly?: string } = {}): void {
  mkdirSync(directory, { recursive: true });
  writeHfConfig(directory, config);
  const weights = randomTextWeights('tiny', 0);
  const weightMap: Record<string, string> = {};
  for (const shard of [1, 2]) {
    const tensors = names
      .filter((name) => shardOf(name) === shard && name !== options.omit)
      .map((name) => {
        weightMap[name] = shardName(shard);
        return { name, dtype: storedDtype(name), tensor: weights.get(name) };
      })
      .filter(({ name }) => name !== options.omitFromShardOnly);
    writeSafetensors(join(directory, shardName(shard)), tensors);
  }
  writeFileSync(
    join(directory, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
  );
  copyFileSync(join(inject('tinyModelDir'), 'tokenizer.json'), join(directory, 'tokenizer.json'));
}

beforeAll(() => {
  temporary = mkdtempSync(join(tmpdir(), 'builder-checkpoint-'));
  checkpoint = join(temporary, 'Tiny-Llama-Checkpoint');
  writeCheckpoint(checkpoint);
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

async function lastLogits(directory: string, decoderFile = 'decoder.onnx') {
  const session = await cpuSession(join(directory, decoderFile));
  const table = randomTextWeights('tiny', 0).get(llamaGlobalTensorNames.embedding).data;
  const { logits } = await runDecoder(session, config, {
    embeds: embedIds(table, hidden, prompt),
    batch: 1,
    sequence: prompt.length,
    mask: prompt.map(() => 1),
    logitsToKeep: prompt.length,
  });
  return logits;
}

describe('buildModel --from a Hugging Face checkpoint', () => {
  it('reads sharded F32/F16/BF16 safetensors into the same model as the random build', async () => {
    const out = join(temporary, 'from-checkpoint');
    const result = buildModel({ out, from: checkpoint, dtype: 'fp32' });
    const manifest = readManifest(out);
    expect(manifest.modelId).toMatch(/^Tiny-Llama-Checkpoint-fp32-[0-9a-f]{16}$/);
    expect(manifest.demo).toBe(false);
    expect(manifest.text).toEqual(config);
    expect(result.files.map((file) => file.name)).toContain('embed.onnx.data');
    // Buffer.equals: a deep toEqual over 1.4 MB would take seconds.
    expect(readFileSync(join(out, 'tokenizer.json')).equals(readFileSync(join(checkpoint, 'tokenizer.json')))).toBe(
      true,
    );

    const fromCheckpoint = await lastLogits(out);
    // Exact oracle: the random weights rounded as the checkpoint stores them, through the same graph builder.
    buildDecoderGraph({
      config,
      dtype: 'fp32',
      weights: roundedWeights(randomTextWeights('tiny', 0), storedDtype),
      path: join(temporary, 'rounded.onnx'),
      progress: new BuildProgress(1, 1),
    });
    expect(maxAbsDifference(fromCheckpoint, await lastLogits(temporary, 'rounded.onnx'))).toBeLessThan(1e-4);
    // Against the unrounded random build, half-precision storage of two blocks moves logits (std ≈ 4) a little.
    const random = await lastLogits(inject('tinyModelDir'));
    const difference = maxAbsDifference(fromCheckpoint, random);
    expect(difference).toBeLessThan(0.5);
    expect(difference).toBeGreaterThan(0);
  });

  it('converts tokenizer.model when the checkpoint has no tokenizer.json', () => {
    const directory = join(temporary, 'sentencepiece-only');
    mkdirSync(directory, { recursive: true });
    for (const file of ['config.json', 'model.safetensors.index.json', shardName(1), shardName(2)]) {
      copyFileSync(join(checkpoint, file), join(directory, file));
    }
    const piece = (text: string, type: number, score = 0) => ({ piece: text, score, type });
    writeFileSync(
      join(directory, 'tokenizer.model'),
      serializeSentencePieceModel({
        pieces: [
          piece('<unk>', sentencePieceType.unknown),
          piece('<s>', sentencePieceType.control),
          piece('</s>', sentencePieceType.control),
          piece('▁', sentencePieceType.normal, -1),
          piece('好', sentencePieceType.normal, -2),
          piece('▁好', sentencePieceType.normal, -3),
        ],
        trainerSpec: {
          modelType: sentencePieceModelType.bpe,
          vocabSize: 6,
          byteFallback: false,
          unkId: 0,
          bosId: 1,
          eosId: 2,
          padId: -1,
          unkPiece: '<unk>',
          bosPiece: '<s>',
          eosPiece: '</s>',
          padPiece: '<pad>',
        },
        normalizerSpec: {
          name: 'identity',
          precompiledCharsmap: new Uint8Array(),
          addDummyPrefix: true,
          removeExtraWhitespaces: false,
          escapeWhitespaces: true,
        },
      }),
    );
    const out = join(temporary, 'from-sentencepiece');
    buildModel({ out, from: directory, dtype: 'int4' });
    const tokenizer = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8'));
    expect(tokenizer.model.vocab['▁好']).toBe(5);
    expect(readManifest(out).modelId).toMatch(/^sentencepiece-only-int4-[0-9a-f]{16}$/);
  });

  it('names the tensor and the files searched when the checkpoint lacks one', () => {
    const directory = join(temporary, 'missing');
    const missing = 'model.layers.1.mlp.down_proj.weight';
    writeCheckpoint(directory, { omit: missing });
    expect(() => buildModel({ out: join(temporary, 'never'), from: directory, dtype: 'fp32' })).toThrow(
      new RegExp(`tensor ${missing.replaceAll('.', '\\.')} not found in .*${shardName(1)}.*${shardName(2)}`),
    );
    expect(existsSync(join(temporary, 'never', 'model.json'))).toBe(false);
  });

  it('names the shard when the index lists a tensor the file lacks', () => {
    const directory = join(temporary, 'index-mismatch');
    writeCheckpoint(directory, { omitFromShardOnly: 'model.norm.weight' });
    expect(() => buildModel({ out: join(temporary, 'never2'), from: directory, dtype: 'int4' })).toThrow(
      `tensor model.norm.weight not found in ${join(directory, shardName(2))}`,
    );
  });

  it('names tensor and file when a tensor has the wrong shape', () => {
    const directory = join(temporary, 'wrong-shape');
    mkdirSync(directory, { recursive: true });
    writeHfConfig(directory, { ...config, intermediateSize: 160 });
    const weights = randomTextWeights('tiny', 0);
    writeSafetensors(
      join(directory, 'model.safetensors'),
      names.map((name) => ({ name, dtype: 'F32' as const, tensor: weights.get(name) })),
    );
    writeFileSync(join(directory, 'tokenizer.json'), '{}');
    expect(() => buildModel({ out: join(temporary, 'never3'), from: directory, dtype: 'fp32' })).toThrow(
      `tensor model.layers.0.mlp.gate_proj.weight has shape [176,64], expected [160,64] in ${join(directory, 'model.safetensors')}`,
    );
  });

  it('reads a PyTorch pytorch_model.bin checkpoint in place, giving the random build exactly', async () => {
    const pickles = join(temporary, 'pickles');
    mkdirSync(pickles, { recursive: true });
    writeHfConfig(pickles, config);
    copyFileSync(join(inject('tinyModelDir'), 'tokenizer.json'), join(pickles, 'tokenizer.json'));
    const weights = randomTextWeights('tiny', 0);
    writeTorchCheckpoint(
      join(pickles, 'pytorch_model.bin'),
      names.map((name) => ({ name, dims: weights.get(name).dims, data: weights.get(name).data })),
    );
    const out = join(temporary, 'from-pickles');
    buildModel({ out, from: pickles, dtype: 'fp32' });
    expect(maxAbsDifference(await lastLogits(out), await lastLogits(inject('tinyModelDir')))).toBe(0);
  });

  it('explains what is missing: weights, config.json or tokenizer', () => {
    const empty = join(temporary, 'no-weights');
    mkdirSync(empty, { recursive: true });
    writeHfConfig(empty, config);
    writeFileSync(join(empty, 'tokenizer.json'), '{}');
    expect(() => buildModel({ out: join(temporary, 'never4'), from: empty, dtype: 'fp32' })).toThrow(
      /no-weights: no \*\.safetensors .* pytorch_model\.bin/,
    );
    const noConfig = join(temporary, 'no-config');
    mkdirSync(noConfig, { recursive: true });
    expect(() => buildModel({ out: join(temporary, 'never5'), from: noConfig, dtype: 'fp32' })).toThrow(
      `${join(noConfig, 'config.json')}: not found`,
    );
    writeHfConfig(noConfig, config);
    expect(() => buildModel({ out: join(temporary, 'never5'), from: noConfig, dtype: 'fp32' })).toThrow(
      /has neither tokenizer\.json nor tokenizer\.model/,
    );
  });

  it('rejects a bad dtype, a bad preset, and both or neither source', () => {
    const out = join(temporary, 'never6');
    expect(() => buildModel({ out, preset: 'tiny', dtype: 'int8' as 'fp32' })).toThrow(
      'unknown dtype "int8": use one of fp32, fp16, int4',
    );
    expect(() => buildModel({ out, preset: 'huge' as 'tiny', dtype: 'fp32' })).toThrow(
      'unknown preset "huge": use one of tiny, small, ziya-14b',
    );
    expect(() => buildModel({ out, preset: 'tiny', from: checkpoint, dtype: 'fp32' })).toThrow(/exactly one/);
    expect(() => buildModel({ out, dtype: 'fp32' })).toThrow(/exactly one/);
  });
});
