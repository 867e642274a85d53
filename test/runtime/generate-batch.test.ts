import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../workers/runtime/generate.ts';
import { generateBatch } from '../../workers/runtime/generate-batch.ts';
import type {
  GenerationRequest,
  GenerationResult,
  GenerationSettings,
} from '../../workers/runtime/generation-types.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createTestTokenizer, writeTestModel } from './support/test-model.ts';

const greedy: GenerationSettings = {
  maxNewTokens: 24,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1.18,
  doSample: false,
  seed: 0,
};

let directory: string;
const models: Partial<Record<'any' | 'right', LanguageModel>> = {};
const tokenizer = createTestTokenizer();
const prompts = ['<human>:Hi\n<bot>:', '<human>:What is in this picture? 你好\n<bot>:', '<human>:ok\n<bot>:'].map(
  (text) => tokenizer.encode(text, { addBos: true }),
);

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'runtime-batch-'));
  for (const padding of ['any', 'right'] as const) {
    writeTestModel(join(directory, padding), { seed: 11, padding });
    models[padding] = await loadLanguageModel(join(directory, padding), {
      executionProvider: 'cpu',
      threads: 1,
      tokenizer,
    });
  }
});

afterAll(async () => {
  await Promise.all(Object.values(models).map((model) => model.dispose()));
  rmSync(directory, { recursive: true, force: true });
});

describe.each(['any', 'right'] as const)('generateBatch, decoder padding %s', (padding) => {
  const model = () => models[padding]!;

  it('gives each reply the tokens it gets alone (greedy), in both cache modes', async () => {
    const requests: GenerationRequest[] = prompts.map((promptTokenIds, index) => ({
      promptTokenIds,
      settings: { ...greedy, maxNewTokens: 12 + 6 * index },
    }));
    const alone: GenerationResult[] = [];
    for (const request of requests) alone.push(await generate(model(), request));
    for (const cacheMode of ['shared', 'chained'] as const) {
      const together = await generateBatch(model(), requests, { cacheMode });
      expect(together).toHaveLength(3);
      together.forEach((result, index) => {
        expect(result.tokenIds).toEqual(alone[index]!.tokenIds);
        expect(result.text).toBe(alone[index]!.text);
        expect(result.finishReason).toBe('length');
        expect(result.generatedTokens).toBe(12 + 6 * index);
        expect(result.promptTokens).toBe(prompts[index]!.length);
      });
    }
  });

  it('rows stop on their own: a stop string in one, an abort in another', async () => {
    const reference = await generate(model(), { promptTokenIds: prompts[0]!, settings: greedy });
    const stop = reference.text.slice(4, 6);
    const controller = new AbortController();
    let streamed = 0;
    const results = await generateBatch(model(), [
      { promptTokenIds: prompts[0]!, settings: greedy, stop: [stop] },
      {
        promptTokenIds: prompts[1]!,
        settings: { ...greedy, maxNewTokens: 100 },
        signal: controller.signal,
        onText: () => {
          if (++streamed === 2) controller.abort();
        },
      },
      { promptTokenIds: prompts[2]!, settings: greedy },
    ]);
    expect(results[0]).toMatchObject({
      finishReason: 'stop',
      text: reference.text.slice(0, reference.text.indexOf(stop)),
    });
    expect(results[1]!.finishReason).toBe('aborted');
    expect(results[1]!.generatedTokens).toBeLessThan(10);
    const third = await generate(model(), { promptTokenIds: prompts[2]!, settings: greedy });
    expect(results[2]!.tokenIds).toEqual(third.tokenIds);
  });

  it('handles empty and already aborted batches', async () => {
    expect(await generateBatch(model(), [])).toEqual([]);
    const controller = new AbortController();
    controller.abort();
    const results = await generateBatch(model(), [
      { promptTokenIds: prompts[0]!, settings: greedy, signal: controller.signal },
      { promptTokenIds: prompts[1]!, settings: greedy, signal: controller.signal },
    ]);
    expect(results.map((result) => result.finishReason)).toEqual(['aborted', 'aborted']);
  });
});
