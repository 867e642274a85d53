import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { buildDecoderGraph } from '../../workers/model/decoder/build-decoder-graph.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { BuildProgress } from '../../workers/model/progress.ts';
import { llamaGlobalTensorNames, randomTextWeights } from '../../workers/model/weights/llama-weight-specs.ts';
import type { WeightSource } from '../../workers/model/weights/weight-source.ts';
import type { Session } from '../../workers/runtime/onnx-session.ts';
import { referenceLogits } from './builder-reference-forward.ts';
import {
  cpuSession,
  dequantizedInt4,
  embedIds,
  maxAbsDifference,
  relativeRmsError,
  runDecoder,
} from './builder-test-support.ts';

const config = presets.tiny.text;
const vocab = config.vocabSize;
const hidden = config.hiddenSize;
const prompt = [1, 15, 300, 4000, 27, 31999, 29871, 13];
const weights = randomTextWeights('tiny', 0);
const table = weights.get(llamaGlobalTensorNames.embedding).data;
const promptEmbeds = embedIds(table, hidden, prompt);
const reference = referenceLogits(config, weights, prompt);
const referenceFlat = Float64Array.from(reference.flatMap((row) => [...row]));

let temporary: string;
let fp32: Session;

beforeAll(async () => {
  temporary = mkdtempSync(join(tmpdir(), 'builder-decoder-'));
  fp32 = await cpuSession(join(inject('tinyModelDir'), readManifest(inject('tinyModelDir')).files.decoder));
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

/** Builds only the decoder graph of `source` into the temporary directory. */
async function decoderSession(name: string, dtype: 'fp32' | 'fp16' | 'int4', source: WeightSource) {
  const path = join(temporary, `${name}.onnx`);
  buildDecoderGraph({ config, dtype, weights: source, path, progress: new BuildProgress(1, 1) });
  return cpuSession(path);
}

function argmaxRows(logits: ArrayLike<number>, rows: number): number[] {
  return Array.from({ length: rows }, (_, row) => {
    let best = 0;
    for (let token = 1; token < vocab; token++) {
      if (logits[row * vocab + token]! > logits[row * vocab + best]!) best = token;
    }
    return best;
  });
}

describe('decoder.onnx (fp32)', () => {
  it('matches a plain float64 LLaMA forward pass at every position', async () => {
    const { logits, outputs } = await runDecoder(fp32, config, {
      embeds: promptEmbeds,
      batch: 1,
      sequence: prompt.length,
      mask: prompt.map(() => 1),
      logitsToKeep: prompt.length,
    });
    expect(logits.length).toBe(prompt.length * vocab);
    expect(outputs['present.1.value']!.dims).toEqual([1, config.numKvHeads, prompt.length, 16]);
    // The weights make logits spread widely (std ≈ 4) so greedy decoding has no near-ties.
    const spread = Math.sqrt(referenceFlat.reduce((sum, value) => sum + value * value, 0) / referenceFlat.length);
    expect(spread).toBeGreaterThan(2);
    expect(maxAbsDifference(logits, referenceFlat)).toBeLessThan(1e-3);
  });

  it('keeps logits only for the last num_logits_to_keep positions', async () => {
    const { logits } = await runDecoder(fp32, config, {
      embeds: promptEmbeds,
      batch: 1,
      sequence: prompt.length,
      mask: prompt.map(() => 1),
      logitsToKeep: 1,
    });
    expect(logits.length).toBe(vocab);
    expect(maxAbsDifference(logits, reference.at(-1)!)).toBeLessThan(1e-3);
  });

  it('continues from its own KV cache as if it had recomputed the prompt', async () => {
    const split = 5;
    const first = await runDecoder(fp32, config, {
      embeds: promptEmbeds.subarray(0, split * hidden),
      batch: 1,
      sequence: split,
      mask: Array(split).fill(1),
      logitsToKeep: 1,
    });
    const rest = prompt.length - split;
    const second = await runDecoder(fp32, config, {
      embeds: promptEmbeds.subarray(split * hidden),
      batch: 1,
      sequence: rest,
      mask: prompt.map(() => 1),
      logitsToKeep: rest,
      past: first.outputs,
    });
    expect(maxAbsDifference(second.logits, referenceFlat.subarray(split * vocab))).toBeLessThan(1e-3);
    expect(second.outputs['present.0.key']!.dims[2]).toBe(prompt.length);
  });

  it('masks left padding: a padded row of a batch gets the same logits as alone, in prefill and decode', async () => {
    // Left padding needs the attention-bias graph (`--padding any`); the shared tiny model is built for right padding.
    const anyPadding = await decoderSession('fp32-any-padding', 'fp32', weights);
    const short = prompt.slice(0, 5);
    const padding = prompt.length - short.length;
    const embeds = new Float32Array(2 * prompt.length * hidden);
    embeds.set(promptEmbeds, 0);
    // Padding positions carry junk embeddings: the mask alone must keep them out.
    embeds.set(embedIds(table, hidden, [...Array(padding).fill(7), ...short]), prompt.length * hidden);
    const mask = [...prompt.map(() => 1), ...Array(padding).fill(0), ...short.map(() => 1)];
    const prefill = await runDecoder(anyPadding, config, {
      embeds,
      batch: 2,
      sequence: prompt.length,
      mask,
      logitsToKeep: 1,
    });
    expect(maxAbsDifference(prefill.logits.subarray(0, vocab), reference.at(-1)!)).toBeLessThan(1e-3);
    expect(maxAbsDifference(prefill.logits.subarray(vocab), reference[short.length - 1]!)).toBeLessThan(1e-3);

    // One decode step: row 1 appends prompt[5], row 0 appends token 42; compare with unbatched runs.
    const step = embedIds(table, hidden, [42, prompt[5]!]);
    const decode = await runDecoder(anyPadding, config, {
      embeds: step,
      batch: 2,
      sequence: 1,
      mask: [...mask.slice(0, prompt.length), 1, ...mask.slice(prompt.length), 1],
      logitsToKeep: 1,
      past: prefill.outputs,
    });
    expect(maxAbsDifference(decode.logits.subarray(vocab), reference[short.length]!)).toBeLessThan(1e-3);
    const alone = referenceLogits(config, weights, [...prompt, 42]);
    expect(maxAbsDifference(decode.logits.subarray(0, vocab), alone.at(-1)!)).toBeLessThan(1e-3);
  });
});

describe("decoder.onnx with padding 'right' (GQA's native row lengths)", () => {
  it('reads a right-padded row at its own last token and appends right after it', async () => {
    const path = join(temporary, 'right.onnx');
    buildDecoderGraph({ config, dtype: 'fp32', weights, path, progress: new BuildProgress(1, 1), padding: 'right' });
    const session = await cpuSession(path);
    const short = prompt.slice(0, 5);
    const padding = prompt.length - short.length;
    const embeds = new Float32Array(2 * prompt.length * hidden);
    embeds.set(promptEmbeds, 0);
    embeds.set(embedIds(table, hidden, [...short, ...Array(padding).fill(7)]), prompt.length * hidden);
    const mask = [...prompt.map(() => 1), ...short.map(() => 1), ...Array(padding).fill(0)];
    const prefill = await runDecoder(session, config, {
      embeds,
      batch: 2,
      sequence: prompt.length,
      mask,
      logitsToKeep: prompt.length,
    });
    const rowStart = prompt.length * vocab;
    const shortLast = prefill.logits.subarray(rowStart + (short.length - 1) * vocab, rowStart + short.length * vocab);
    expect(maxAbsDifference(shortLast, reference[short.length - 1]!)).toBeLessThan(1e-3);
    expect(maxAbsDifference(prefill.logits.subarray(rowStart - vocab, rowStart), reference.at(-1)!)).toBeLessThan(1e-3);

    const decode = await runDecoder(session, config, {
      embeds: embedIds(table, hidden, [42, prompt[5]!]),
      batch: 2,
      sequence: 1,
      mask: [...prompt.map(() => 1), 1, ...short.map(() => 1), 1, ...Array(padding).fill(0)],
      logitsToKeep: 1,
      past: prefill.outputs,
    });
    expect(maxAbsDifference(decode.logits.subarray(vocab), reference[short.length]!)).toBeLessThan(1e-3);
  });
});

describe('decoder.onnx (int4, MatMulNBits)', () => {
  /** The fp32 weights the 4-bit codes stand for: what the int4 graph should compute exactly, up to int8 activations. */
  const dequantized = dequantizedInt4(weights);

  it('computes the model its quantized weights describe, and stays close to fp32', async () => {
    const session = await decoderSession('int4', 'int4', weights);
    const { logits } = await runDecoder(session, config, {
      embeds: promptEmbeds,
      batch: 1,
      sequence: prompt.length,
      mask: prompt.map(() => 1),
      logitsToKeep: prompt.length,
    });
    const ofDequantized = referenceLogits(config, dequantized, prompt).flatMap((row) => [...row]);
    // accuracy_level 4 quantizes activations to int8 per block: ≈ 1 % (measured 1.1 %), far below the weights' error.
    expect(relativeRmsError(logits, ofDequantized)).toBeLessThan(0.03);
    // Against fp32, 4-bit weights (block 32, symmetric) on this 2-layer model cost ≈ 17 % relative RMS error.
    const versusFp32 = relativeRmsError(logits, referenceFlat);
    expect(versusFp32).toBeLessThan(0.3);
    expect(versusFp32).toBeGreaterThan(0.01);
    const agree = argmaxRows(logits, prompt.length).filter(
      (token, row) => token === argmaxRows(referenceFlat, prompt.length)[row],
    ).length;
    expect(agree).toBeGreaterThanOrEqual(prompt.length / 2);
  });
});

describe('decoder.onnx (fp16)', () => {
  it('runs on the CPU with a float16 KV cache, masks left padding, and stays within half-precision error', async () => {
    const session = await decoderSession('fp16', 'fp16', weights);
    const short = prompt.slice(0, 5);
    const padding = prompt.length - short.length;
    const embeds = new Float32Array(2 * prompt.length * hidden);
    embeds.set(promptEmbeds, 0);
    embeds.set(embedIds(table, hidden, [...Array(padding).fill(7), ...short]), prompt.length * hidden);
    const { logits, outputs } = await runDecoder(session, config, {
      embeds,
      batch: 2,
      sequence: prompt.length,
      mask: [...prompt.map(() => 1), ...Array(padding).fill(0), ...short.map(() => 1)],
      logitsToKeep: prompt.length,
      cacheType: 'float16',
    });
    expect(outputs['present.0.key']!.type).toBe('float16');
    const fullRow = logits.subarray(0, prompt.length * vocab);
    // Measured ≈ 0.09 % relative RMS error.
    expect(relativeRmsError(fullRow, referenceFlat)).toBeLessThan(0.005);
    expect(argmaxRows(fullRow, prompt.length)).toEqual(argmaxRows(referenceFlat, prompt.length));
    const paddedLast = logits.subarray(logits.length - vocab);
    expect(relativeRmsError(paddedLast, reference[short.length - 1]!)).toBeLessThan(0.005);
  });
});
