import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeRandomLlamaGguf } from '../../workers/model/gguf/random-llama-gguf.ts';
import { readManifest } from '../../workers/model/manifest.ts';
import { loadTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { type LlamaCppOracle, openLlamaCppOracle } from '../support/llama-cpp-oracle.ts';

/**
 * Largest |log p_ours − log p_llama.cpp| over the whole vocabulary. Both sides compute in float32 (llama.cpp with a
 * float32 KV cache and flash attention off); measured 7e-5 (15 tokens) and 8.5e-5 (71 tokens) on the tiny
 * preset, where logits span about ±17. llama.cpp at its defaults (F16 cache, flash attention) is off by ~5e-3.
 */
const logProbabilityTolerance = 1e-3;

// "<s> Hello world, 你好世界! The quick brown fox" in LLaMA's vocabulary (token ids go straight to both engines).
const shortPrompt = [1, 15043, 3186, 29892, 29871, 30919, 31076, 30793, 30967, 29991, 450, 4996, 17354, 1701, 29916];
// A longer prompt: rotary positions up to 70, grouped-query heads mixing over many keys.
const longPrompt = [1, ...Array.from({ length: 70 }, (_, index) => 259 + ((index * 7919) % 31000))];

const greedySettings = {
  maxNewTokens: 40,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1,
  doSample: false,
  seed: 0,
} as const;

function logSoftmax(logits: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const value of logits) max = Math.max(max, value);
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  const normalizer = max + Math.log(sum);
  return Float64Array.from(logits, (value) => value - normalizer);
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let index = 1; index < values.length; index++) if (values[index]! > values[best]!) best = index;
  return best;
}

describe('the decoder agrees with llama.cpp on the same random weights (tiny, fp32 vs GGUF F32)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'llama-cpp-oracle-'));
  let model: LanguageModel;
  let oracle: LlamaCppOracle;
  let directory: string;

  beforeAll(async () => {
    directory = inject('tinyModelDir');
    const manifest = readManifest(directory);
    const [, preset, seed] = manifest.source.split(':');
    expect(manifest.source).toMatch(/^random:tiny:\d+$/);
    expect(manifest.dtype).toBe('fp32');
    const ggufPath = join(scratch, 'tiny-f32.gguf');
    writeRandomLlamaGguf({ path: ggufPath, preset: preset as 'tiny', seed: Number(seed), fileType: 'f32' });
    // One thread each: ggml's spinning thread pool slows down ~100× when the cores are shared with other test files.
    model = await loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1 });
    oracle = await openLlamaCppOracle(ggufPath, { threads: 1, contextSize: 256 });
  });

  afterAll(async () => {
    await oracle?.dispose();
    await model?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function ourLogProbabilities(prompt: readonly number[]): Promise<Float64Array> {
    const output = await model.runDecoder({
      inputsEmbeds: await model.embedTokens(prompt),
      batch: 1,
      sequence: prompt.length,
      attentionMask: new BigInt64Array(prompt.length).fill(1n),
      past: model.emptyCache(1),
      logitsToKeep: 1,
    });
    return logSoftmax(output.logits);
  }

  for (const [label, prompt] of [
    ['a 15-token bilingual prompt', shortPrompt],
    ['a 71-token prompt', longPrompt],
  ] as const) {
    it(`gives the same next-token log-probabilities over the whole vocabulary after ${label}`, async () => {
      const ours = await ourLogProbabilities(prompt);
      const theirs = await oracle.nextTokenLogProbabilities(prompt);
      expect(theirs.length).toBe(ours.length);
      let largestDifference = 0;
      for (let token = 0; token < ours.length; token++) {
        largestDifference = Math.max(largestDifference, Math.abs(ours[token]! - theirs[token]!));
      }
      expect(largestDifference).toBeLessThan(logProbabilityTolerance);
      expect(argmax(ours)).toBe(argmax(theirs));
    });
  }

  it('continues greedily with the same 40 tokens (KV-cached decode on both sides)', async () => {
    const theirs = await oracle.greedyContinuation(shortPrompt, greedySettings.maxNewTokens);
    const result = await model.generate({ promptTokenIds: shortPrompt, settings: greedySettings });
    // Our generation stops at EOS and leaves it out; llama.cpp is fed on regardless, so compare up to our stop.
    const ours =
      result.finishReason === 'stop' ? [...result.tokenIds, model.manifest.text.eosTokenId] : result.tokenIds;
    expect(ours.length).toBeGreaterThanOrEqual(32);
    expect(ours).toEqual(theirs.slice(0, ours.length));
  });

  it("tokenizes text as llama.cpp's SentencePiece tokenizer does with the exported vocabulary and scores", async () => {
    const tokenizer = await loadTokenizer(join(directory, readManifest(directory).files.tokenizer));
    for (const text of [
      'Hello world, 你好世界! The quick brown fox',
      '请用中文回答：这张图片里有什么？',
      '  leading spaces and\nnew lines\n\n',
      'emoji 🙂👍🏽 and ümlauts',
      'unbelievably antidisestablishmentarianism',
      '<human>:描述一下图片\n<bot>:',
    ]) {
      expect(tokenizer.encode(text, { addBos: false }), text).toEqual(oracle.tokenize(text));
    }
  });
});
