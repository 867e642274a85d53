import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { manifestFileName, readManifest } from '../../workers/model/manifest.ts';
import type { DecoderModel, DecoderStep } from '../../workers/runtime/decoder-model.ts';
import { generate } from '../../workers/runtime/generate.ts';
import type { GenerationRequest, GenerationSettings } from '../../workers/runtime/generation-types.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { SequenceProgress } from '../../workers/runtime/sequence-progress.ts';
import { DecodeScheduler } from '../../workers/serving/decode-scheduler.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from '../runtime/support/test-model.ts';

const tokenizer = createTestTokenizer();
const vocabSize = testTextConfig().vocabSize;
const prompt = tokenizer.encode('<human>:cat?\n<bot>:');
/** A token of the prompt ('c') and one that is not in it ('z'). */
const inPrompt = tokenizer.encode('c', { addBos: false })[0]!;
const notInPrompt = tokenizer.encode('z', { addBos: false })[0]!;
const greedy: GenerationSettings = {
  maxNewTokens: 3,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1.18,
  doSample: false,
  seed: 0,
};

/**
 * Logits where the prompt's token leads by a margin the penalty (1.18) overturns: 10 against 9, and 10 / 1.18 ≈ 8.5.
 * Once both are penalised the prompt's token leads again (8.47 against 7.63).
 */
function riggedLogits(rows: number): Float32Array {
  const logits = new Float32Array(rows * vocabSize);
  for (let row = 0; row < rows; row++) {
    logits[row * vocabSize + inPrompt] = 10;
    logits[row * vocabSize + notInPrompt] = 9;
  }
  return logits;
}

function request(scope: GenerationSettings['repetitionPenaltyScope']): GenerationRequest {
  return { promptTokenIds: prompt, settings: { ...greedy, ...(scope ? { repetitionPenaltyScope: scope } : {}) } };
}

describe('repetition penalty scope', () => {
  it('counts only generated tokens by default and with `generated`, the prompt too with `prompt+generated`', () => {
    const chosen = (scope: GenerationSettings['repetitionPenaltyScope']) => {
      const progress = new SequenceProgress(request(scope), tokenizer, 2, 3);
      return [0, 1, 2].map(() => progress.accept(riggedLogits(1)));
    };
    // generated: 'c' is free at first; once generated it is penalised and 'z' wins; then both are penalised.
    expect(chosen('generated')).toEqual([inPrompt, notInPrompt, inPrompt]);
    expect(chosen(undefined)).toEqual([inPrompt, notInPrompt, inPrompt]);
    // prompt+generated: 'c' is in the prompt, so 'z' comes first.
    expect(chosen('prompt+generated')).toEqual([notInPrompt, inPrompt, inPrompt]);
  });

  it('is read from model.json, `generated` when the field is absent', () => {
    const directory = mkdtempSync(join(tmpdir(), 'scope-manifest-'));
    try {
      writeTestModel(directory, { seed: 1 });
      const manifest = readManifest(directory);
      expect(manifest.generation.repetitionPenaltyScope).toBe('generated');
      const { repetitionPenaltyScope: _, ...withoutScope } = manifest.generation;
      writeFileSync(join(directory, manifestFileName), JSON.stringify({ ...manifest, generation: withoutScope }));
      expect(readManifest(directory).generation.repetitionPenaltyScope).toBe('generated');
      writeFileSync(
        join(directory, manifestFileName),
        JSON.stringify({ ...manifest, generation: { ...withoutScope, repetitionPenaltyScope: 'prompt+generated' } }),
      );
      expect(readManifest(directory).generation.repetitionPenaltyScope).toBe('prompt+generated');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('repetition penalty scope from model.json to the sampler', () => {
  it('a chat model hands its model.json scope to every generation, a request may override it', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'scope-chat-model-'));
    try {
      cpSync(inject('tinyModelDir'), directory, { recursive: true });
      const manifest = JSON.parse(readFileSync(join(directory, manifestFileName), 'utf8'));
      expect(manifest.generation.repetitionPenaltyScope).toBe('generated');
      manifest.generation.repetitionPenaltyScope = 'prompt+generated';
      writeFileSync(join(directory, manifestFileName), JSON.stringify(manifest));
      const model = await ZiyaChatModel.load(directory, { executionProvider: 'cpu', threads: 1 });
      try {
        expect(model.generationSettings({ requestId: 'web-1' }).repetitionPenaltyScope).toBe('prompt+generated');
        const overridden = { requestId: 'web-2', generation: { repetitionPenaltyScope: 'generated' as const } };
        expect(model.generationSettings(overridden).repetitionPenaltyScope).toBe('generated');
      } finally {
        await model.close();
      }
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('repetition penalty scope in the batched decode', () => {
  let directory: string;
  let model: LanguageModel;
  let rigged: DecoderModel;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'scope-scheduler-'));
    writeTestModel(directory, { seed: 5, padding: 'right', config: testTextConfig({ maxPositions: 128 }) });
    model = await loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1, tokenizer });
    // The real decoder runs (cache, positions, batching); only its logits are replaced by the rigged ones.
    rigged = Object.create(model, {
      runDecoder: {
        value: async (step: DecoderStep) => {
          const output = await model.runDecoder(step);
          return { ...output, logits: riggedLogits(step.batch * step.logitsToKeep) };
        },
      },
    }) as DecoderModel;
  });

  afterAll(async () => {
    await model?.dispose();
    rmSync(directory, { recursive: true, force: true });
  });

  it('honours each row’s scope when two rows of different scopes share the batch', async () => {
    const scheduler = new DecodeScheduler(rigged, { batchSize: 2, prefillChunk: 64 });
    const [generatedOnly, withPrompt] = await Promise.all([
      scheduler.submit(request('generated')),
      scheduler.submit(request('prompt+generated')),
    ]);
    await scheduler.close();
    expect(generatedOnly!.tokenIds).toEqual([inPrompt, notInPrompt, inPrompt]);
    expect(withPrompt!.tokenIds).toEqual([notInPrompt, inPrompt, inPrompt]);
    // And each row is what the lone generation gives.
    expect((await generate(rigged, request('generated'))).tokenIds).toEqual(generatedOnly!.tokenIds);
    expect((await generate(rigged, request('prompt+generated'))).tokenIds).toEqual(withPrompt!.tokenIds);
  });
});
