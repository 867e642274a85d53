import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { placeholderVocabulary } from '../../workers/model/gguf/gguf-vocabulary.ts';
import { writeLlamaGguf } from '../../workers/model/gguf/llama-gguf.ts';
import { dequantizeQ4_0, quantizeQ4_0 } from '../../workers/model/gguf/quantize-q4-0.ts';
import { randomTextWeights } from '../../workers/model/weights/llama-weight-specs.ts';
import type { FloatTensor, WeightSource } from '../../workers/model/weights/weight-source.ts';
import { type LlamaCppOracle, openLlamaCppOracle } from '../support/llama-cpp-oracle.ts';

/**
 * llama.cpp's Q4_0 matmul also rounds the activations to Q8_0, so a Q4_0 file and a float32 file holding the same
 * dequantized weights differ a little: measured max 0.165, mean 0.030 in log-probability on the tiny preset. The
 * quantization itself moves them ~20× more (max 3.6, mean 0.67 against the unquantized weights), and a wrong
 * scale, nibble order or block layout would be further off still.
 */
const activationRounding = { largest: 0.5, mean: 0.1 } as const;

/** The same weights, with every matrix that the Q4_0 file quantizes replaced by its dequantized Q4_0 values. */
function roundTrippedThroughQ4_0(source: WeightSource): WeightSource {
  return {
    description: `${source.description}, through Q4_0`,
    has: (name) => source.has(name),
    get(name): FloatTensor {
      const tensor = source.get(name);
      const rowLength = tensor.dims[tensor.dims.length - 1] ?? 0;
      if (tensor.dims.length !== 2 || rowLength % 32 !== 0) return tensor;
      return { dims: tensor.dims, data: dequantizeQ4_0(quantizeQ4_0(tensor.data)) };
    },
    close: () => source.close(),
  };
}

describe('the Q4_0 GGUF export, checked by llama.cpp (tiny)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'q4-0-oracle-'));
  const config = presets.tiny.text;
  const vocabulary = placeholderVocabulary(config.vocabSize);
  let quantized: LlamaCppOracle;
  let dequantized: LlamaCppOracle;

  beforeAll(async () => {
    const quantizedPath = join(scratch, 'tiny-q4_0.gguf');
    const dequantizedPath = join(scratch, 'tiny-dequantized-f32.gguf');
    writeLlamaGguf({
      path: quantizedPath,
      config,
      weights: randomTextWeights('tiny', 0),
      vocabulary,
      fileType: 'q4_0',
    });
    writeLlamaGguf({
      path: dequantizedPath,
      config,
      weights: roundTrippedThroughQ4_0(randomTextWeights('tiny', 0)),
      vocabulary,
      fileType: 'f32',
    });
    quantized = await openLlamaCppOracle(quantizedPath);
    dequantized = await openLlamaCppOracle(dequantizedPath);
  });

  afterAll(async () => {
    await quantized?.dispose();
    await dequantized?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('computes what float32 math on the dequantized weights computes, within activation rounding', async () => {
    const prompt = [1, 15043, 3186, 29892, 450, 4996, 17354, 1701, 29916, 432, 9];
    const fromQuantized = await quantized.nextTokenLogProbabilities(prompt);
    const fromDequantized = await dequantized.nextTokenLogProbabilities(prompt);
    let largestDifference = 0;
    let totalDifference = 0;
    for (let token = 0; token < fromQuantized.length; token++) {
      const difference = Math.abs(fromQuantized[token]! - fromDequantized[token]!);
      largestDifference = Math.max(largestDifference, difference);
      totalDifference += difference;
    }
    expect(largestDifference).toBeLessThan(activationRounding.largest);
    expect(totalDifference / fromQuantized.length).toBeLessThan(activationRounding.mean);
  });
});
