import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generate } from '../../workers/runtime/generate.ts';
import type { GenerationSettings } from '../../workers/runtime/generation-types.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';

// The tiny model of the test global setup: the real builder, the real tokenizer.json, a 32000-token vocabulary.
let model: LanguageModel;

beforeAll(async () => {
  model = await loadLanguageModel(inject('tinyModelDir'), { executionProvider: 'cpu', threads: 1 });
});

afterAll(async () => {
  await model?.dispose();
});

const greedy: GenerationSettings = {
  maxNewTokens: 16,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1,
  doSample: false,
  seed: 0,
};

describe('the project tiny model', () => {
  it('loads with its tokenizer and generates the same tokens in both cache modes', async () => {
    const prompt = model.tokenizer.encode('<human>:这张图片里有什么？\n<bot>:', { addBos: true });
    expect(prompt[0]).toBe(model.tokenizer.bosTokenId);
    const streamed: string[] = [];
    const shared = await generate(
      model,
      { promptTokenIds: prompt, settings: greedy, onText: (text) => streamed.push(text) },
      { cacheMode: 'shared' },
    );
    const chained = await generate(model, { promptTokenIds: prompt, settings: greedy }, { cacheMode: 'chained' });
    expect(chained.tokenIds).toEqual(shared.tokenIds);
    expect(shared.generatedTokens).toBeGreaterThan(0);
    if (shared.text.length > 0) expect(streamed.at(-1)).toBe(shared.text);
  });

  it('cached decoding equals recomputation within 1e-4', async () => {
    const tokens = model.tokenizer.encode('Hello, 你好 world of tiny models', { addBos: true });
    const vocabulary = model.manifest.text.vocabSize;
    const full = await model.runDecoder({
      inputsEmbeds: await model.embedTokens(tokens),
      batch: 1,
      sequence: tokens.length,
      attentionMask: new BigInt64Array(tokens.length).fill(1n),
      past: model.emptyCache(1),
      logitsToKeep: tokens.length,
    });
    const buffer = model.allocateCache(1, tokens.length);
    const prefix = 3;
    const mask = new BigInt64Array(tokens.length).fill(1n);
    let worst = 0;
    let output = await model.runDecoder({
      inputsEmbeds: await model.embedTokens(tokens.slice(0, prefix)),
      batch: 1,
      sequence: prefix,
      attentionMask: mask.subarray(0, prefix),
      past: buffer,
      presentInto: buffer,
      logitsToKeep: 1,
    });
    for (let position = prefix - 1; position < tokens.length; position++) {
      const expected = full.logits.subarray(position * vocabulary, (position + 1) * vocabulary);
      for (let index = 0; index < vocabulary; index++) {
        worst = Math.max(worst, Math.abs(output.logits[index]! - expected[index]!));
      }
      if (position + 1 === tokens.length) break;
      output = await model.runDecoder({
        inputsEmbeds: await model.embedTokens([tokens[position + 1]!]),
        batch: 1,
        sequence: 1,
        attentionMask: mask.subarray(0, position + 2),
        past: buffer,
        presentInto: buffer,
        logitsToKeep: 1,
      });
    }
    expect(worst).toBeLessThan(1e-4);
  });
});
