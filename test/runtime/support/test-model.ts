import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelDtype, TextConfig } from '../../../workers/model/config.ts';
import { buildDecoderGraph } from '../../../workers/model/decoder/build-decoder-graph.ts';
import { decoderTakesDecodeStep } from '../../../workers/model/decoder/decoder-contract.ts';
import { type ModelManifest, ziyaDefaults } from '../../../workers/model/manifest.ts';
import { ExternalDataWriter, GraphBuilder } from '../../../workers/model/onnx/graph-builder.ts';
import { BuildProgress } from '../../../workers/model/progress.ts';
import { llamaGlobalTensorNames, llamaWeightSpecs } from '../../../workers/model/weights/llama-weight-specs.ts';
import { RandomWeightSource } from '../../../workers/model/weights/random-weights.ts';
import type { GenerationTokenizer } from '../../../workers/runtime/generation-tokenizer.ts';

/**
 * A byte-level test tokenizer: 0 pad, 1 bos, 2 eos, then printable ASCII (32..126) and the six UTF-8 bytes of
 * "你好", so a random model produces readable text, stop strings can be chosen from it, and Chinese characters are
 * split across tokens.
 */
export const testBytes = [
  ...Array.from({ length: 95 }, (_, index) => 32 + index),
  ...new TextEncoder().encode('你好'),
] as const;

/** Special tokens of the test vocabulary. */
export const testSpecialTokens = { padTokenId: 0, bosTokenId: 1, eosTokenId: 2 } as const;

/** The byte-level tokenizer of the test models. */
export function createTestTokenizer(eosTokenId: number = testSpecialTokens.eosTokenId): GenerationTokenizer {
  const byteToId = new Map<number, number>();
  testBytes.forEach((byte, index) => {
    if (!byteToId.has(byte)) byteToId.set(byte, index + 3);
  });
  const decoder = new TextDecoder('utf-8');
  return {
    vocabSize: 3 + testBytes.length,
    tokenToId(token) {
      const bytes = new TextEncoder().encode(token);
      return bytes.length === 1 ? byteToId.get(bytes[0]!) : undefined;
    },
    bosTokenId: testSpecialTokens.bosTokenId,
    eosTokenId,
    encode(text, { addBos = true } = {}) {
      const ids = [...new TextEncoder().encode(text)].map((byte) => byteToId.get(byte) ?? 3);
      return addBos ? [testSpecialTokens.bosTokenId, ...ids] : ids;
    },
    decode(ids, { skipSpecialTokens = false } = {}) {
      const bytes: number[] = [];
      for (const id of ids) {
        if (id < 3) {
          if (!skipSpecialTokens) bytes.push(...new TextEncoder().encode(['<pad>', '<s>', '</s>'][id]!));
          continue;
        }
        const byte = testBytes[id - 3];
        if (byte !== undefined) bytes.push(byte);
      }
      return decoder.decode(Uint8Array.from(bytes));
    },
  };
}

/** Text architecture of the test models: tiny, with the vocabulary above. */
export function testTextConfig(overrides: Partial<TextConfig> = {}): TextConfig {
  return {
    vocabSize: 3 + testBytes.length,
    hiddenSize: 64,
    intermediateSize: 128,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositions: 256,
    ...testSpecialTokens,
    ...overrides,
  };
}

/**
 * Writes a model directory with the project's own decoder builder and random weights, plus an `embed.onnx`
 * (a Gather over the embedding table) and a placeholder `tokenizer.json` (tests inject `createTestTokenizer`).
 */
export function writeTestModel(
  directory: string,
  options: { seed?: number; dtype?: ModelDtype; config?: TextConfig; padding?: 'any' | 'right' } = {},
): ModelManifest {
  const seed = options.seed ?? 7;
  const dtype = options.dtype ?? 'fp32';
  const config = options.config ?? testTextConfig();
  mkdirSync(directory, { recursive: true });
  const weights = new RandomWeightSource(seed, llamaWeightSpecs(config), 'runtime test');
  const progress = new BuildProgress(1, 1);
  const padding = options.padding ?? 'any';
  buildDecoderGraph({ config, dtype, weights, path: join(directory, 'decoder.onnx'), progress, padding });

  const data = new ExternalDataWriter(join(directory, 'embed.onnx.data'));
  try {
    const graph = new GraphBuilder('embed', data);
    const ids = graph.input('input_ids', 'int64', ['batch', 'sequence']);
    const table = weights.get(llamaGlobalTensorNames.embedding);
    const tableName = graph.initializer('embed_tokens', 'float32', table.dims, table.data);
    graph.op('Gather', [tableName, ids], { axis: 0 }, { output: 'inputs_embeds' });
    graph.output('inputs_embeds', 'float32', ['batch', 'sequence', config.hiddenSize]);
    writeFileSync(join(directory, 'embed.onnx'), graph.encode());
  } finally {
    data.close();
  }
  writeFileSync(join(directory, 'tokenizer.json'), '{}');

  const manifest: ModelManifest = {
    format: 'ziya-visual-bot/model',
    version: 1,
    modelId: `runtime-test-${seed}-${dtype}`,
    source: `random:runtime-test:${seed}`,
    demo: true,
    textOnly: true,
    dtype,
    decoderPadding: padding,
    decodeSteps: decoderTakesDecodeStep(dtype, padding),
    text: config,
    files: { decoder: 'decoder.onnx', embed: 'embed.onnx', tokenizer: 'tokenizer.json' },
    template: { ...ziyaDefaults.template, stop: [...ziyaDefaults.template.stop] },
    preprocessing: {
      ...ziyaDefaults.preprocessing,
      mean: [...ziyaDefaults.preprocessing.mean],
      std: [...ziyaDefaults.preprocessing.std],
    },
    generation: { ...ziyaDefaults.generation },
  };
  writeFileSync(join(directory, 'model.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}
