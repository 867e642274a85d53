import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecoderModel } from '../../workers/runtime/decoder-model.ts';
import { generate } from '../../workers/runtime/generate.ts';
import type { GenerationRequest, GenerationSettings } from '../../workers/runtime/generation-types.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from './support/test-model.ts';

const greedy: GenerationSettings = {
  maxNewTokens: 40,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1,
  doSample: false,
  seed: 0,
};
const sampled: GenerationSettings = { ...greedy, temperature: 0.9, topP: 0.95, topK: 20, doSample: true, seed: 5 };

let directory: string;
let model: LanguageModel;
const tokenizer = createTestTokenizer();
const prompt = tokenizer.encode('<human>:Hello 你好\n<bot>:', { addBos: true });

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'runtime-generate-'));
  writeTestModel(join(directory, 'model'));
  model = await loadLanguageModel(join(directory, 'model'), { executionProvider: 'cpu', threads: 1, tokenizer });
});

afterAll(async () => {
  await model?.dispose();
  rmSync(directory, { recursive: true, force: true });
});

function request(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return { promptTokenIds: prompt, settings: greedy, ...overrides };
}

describe('generate', () => {
  it('greedy decoding is deterministic, hits the token limit, and the cache modes agree', async () => {
    const shared = await generate(model, request(), { cacheMode: 'shared' });
    const chained = await generate(model, request(), { cacheMode: 'chained' });
    expect(shared.finishReason).toBe('length');
    expect(shared.generatedTokens).toBe(40);
    expect(shared.tokenIds).toHaveLength(40);
    expect(shared.promptTokens).toBe(prompt.length);
    expect(chained.tokenIds).toEqual(shared.tokenIds);
    expect(shared.text).toBe(tokenizer.decode(shared.tokenIds, { skipSpecialTokens: true }).replace(/\uFFFD+$/, ''));
    expect(shared.timings.tokensPerSecond).toBeGreaterThan(0);
    expect(shared.timings.firstTokenMs).toBeGreaterThanOrEqual(shared.timings.prefillMs);
  });

  it('the same seed reproduces a sampled reply, another seed changes it', async () => {
    const first = await generate(model, request({ settings: sampled }));
    const again = await generate(model, request({ settings: sampled }));
    const other = await generate(model, request({ settings: { ...sampled, seed: 6 } }));
    expect(again.tokenIds).toEqual(first.tokenIds);
    expect(other.tokenIds).not.toEqual(first.tokenIds);
  });

  it('streams growing prefixes whose last one is the final text', async () => {
    const streamed: string[] = [];
    const result = await generate(model, request({ settings: sampled, onText: (text) => streamed.push(text) }));
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.at(-1)).toBe(result.text);
    for (let index = 1; index < streamed.length; index++) {
      expect(streamed[index]!.startsWith(streamed[index - 1]!)).toBe(true);
      expect(streamed[index]!.length).toBeGreaterThan(streamed[index - 1]!.length);
    }
    for (const text of streamed) expect(text.endsWith('\uFFFD')).toBe(false);
  });

  it('stops at a stop string split across tokens and cuts it from the text', async () => {
    const reference = await generate(model, request());
    const text = reference.text;
    expect(text.length).toBeGreaterThan(12);
    const stop = text.slice(6, 9); // three characters, so three or more tokens
    const expected = text.slice(0, text.indexOf(stop));
    const streamed: string[] = [];
    const result = await generate(model, request({ stop: [stop], onText: (value) => streamed.push(value) }));
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe(expected);
    for (const value of streamed) expect(expected.startsWith(value)).toBe(true);
    expect(streamed.at(-1) ?? '').toBe(expected);
  });

  it('stops at EOS, which is left out of the tokens and text', async () => {
    const reference = await generate(model, request());
    const position = 5;
    const eos = reference.tokenIds[position]!;
    const cut = reference.tokenIds.indexOf(eos);
    const eosDirectory = join(directory, 'eos');
    writeTestModel(eosDirectory, { config: testTextConfig({ eosTokenId: eos }) });
    const eosModel = await loadLanguageModel(eosDirectory, { executionProvider: 'cpu', threads: 1, tokenizer });
    try {
      const result = await generate(eosModel, request());
      expect(result.finishReason).toBe('stop');
      expect(result.tokenIds).toEqual(reference.tokenIds.slice(0, cut));
      expect(result.generatedTokens).toBe(cut + 1);
    } finally {
      await eosModel.dispose();
    }
  });

  it('an abort stops generation promptly with the text so far', async () => {
    const controller = new AbortController();
    let calls = 0;
    const result = await generate(
      model,
      request({
        settings: { ...greedy, maxNewTokens: 200 },
        signal: controller.signal,
        onText: () => {
          if (++calls === 3) controller.abort();
        },
      }),
    );
    expect(result.finishReason).toBe('aborted');
    expect(result.generatedTokens).toBeLessThan(20);
    const before = new AbortController();
    before.abort();
    const immediate = await generate(model, request({ signal: before.signal }));
    expect(immediate).toMatchObject({ finishReason: 'aborted', generatedTokens: 0, text: '' });
  });

  it('prefix embeddings act as prompt positions before the text', async () => {
    const split = 6;
    const prefixEmbeddings = await model.embedTokens(prompt.slice(0, split));
    const withPrefix = await generate(model, request({ prefixEmbeddings, promptTokenIds: prompt.slice(split) }));
    const plain = await generate(model, request());
    expect(withPrefix.promptTokens).toBe(prompt.length);
    expect(withPrefix.tokenIds).toEqual(plain.tokenIds);
  });

  it('stays inside the context length', async () => {
    const result = await generate(model, request({ settings: { ...greedy, maxNewTokens: 10_000 } }));
    expect(result.finishReason).toBe('length');
    expect(result.promptTokens + result.generatedTokens).toBe(testTextConfig().maxPositions);
  });

  it('falls back to chained caches when the decoder refuses a shared buffer', async () => {
    const expected = await generate(model, request({ settings: { ...greedy, maxNewTokens: 10 } }));
    for (const run of [
      (fake: DecoderModel) => generate(fake, request({ settings: { ...greedy, maxNewTokens: 10 } })),
    ]) {
      let refused = 0;
      const fake: DecoderModel = {
        manifest: model.manifest,
        tokenizer: model.tokenizer,
        cacheType: model.cacheType,
        sharedBufferSupported: undefined,
        decodeSteps: false,
        embedTokens: (ids) => model.embedTokens(ids),
        emptyCache: (batch) => model.emptyCache(batch),
        allocateCache: (batch, length) => model.allocateCache(batch, length),
        runDecoder: (step) => {
          if (step.presentInto) {
            refused++;
            return Promise.reject(new Error('output shape mismatch'));
          }
          return model.runDecoder(step);
        },
      };
      const result = await run(fake);
      expect(refused).toBe(1);
      expect(fake.sharedBufferSupported).toBe(false);
      expect(result.tokenIds).toEqual(expected.tokenIds);
    }
  });
});
