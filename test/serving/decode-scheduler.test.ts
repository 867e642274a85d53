import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecoderModel, DecoderStep } from '../../workers/runtime/decoder-model.ts';
import { generate } from '../../workers/runtime/generate.ts';
import type {
  GenerationRequest,
  GenerationResult,
  GenerationSettings,
} from '../../workers/runtime/generation-types.ts';
import { type LanguageModel, loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createSeededRandom } from '../../workers/runtime/seeded-random.ts';
import { DecodeScheduler } from '../../workers/serving/decode-scheduler.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from '../runtime/support/test-model.ts';

const greedy: GenerationSettings = {
  maxNewTokens: 20,
  temperature: 0,
  topP: 1,
  topK: 0,
  repetitionPenalty: 1.18,
  doSample: false,
  seed: 0,
};
const sampled: GenerationSettings = { ...greedy, doSample: true, temperature: 0.9, topP: 0.9, topK: 40 };

const tokenizer = createTestTokenizer();
let directory: string;
let right: LanguageModel;
let any: LanguageModel;
/** fp16 activations: a right-padded decoder without decode steps, whose presents are the whole cache. */
let half: LanguageModel;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'scheduler-'));
  const config = testTextConfig({ maxPositions: 512 });
  for (const padding of ['right', 'any'] as const) {
    writeTestModel(join(directory, padding), { seed: 5, padding, config });
  }
  writeTestModel(join(directory, 'half'), { seed: 5, padding: 'right', config, dtype: 'fp16' });
  const load = (name: string) =>
    loadLanguageModel(join(directory, name), { executionProvider: 'cpu', threads: 1, tokenizer });
  [right, any, half] = await Promise.all([load('right'), load('any'), load('half')]);
});

afterAll(async () => {
  await Promise.all([right?.dispose(), any?.dispose(), half?.dispose()]);
  rmSync(directory, { recursive: true, force: true });
});

/** A prompt of about `length` tokens, different for each `index`. */
function prompt(index: number, length: number): number[] {
  const words = ['cat', 'picture', '你好', 'what', 'colour', 'is', 'the', 'sky', 'answer', 'why'];
  let text = `<human>:${index}`;
  while (tokenizer.encode(text).length < length) text += ` ${words[(text.length + index) % words.length]}`;
  return tokenizer.encode(`${text}\n<bot>:`);
}

/** The prefix vectors of an image: `rows` random rows of the model's hidden size. */
function imageVectors(model: DecoderModel, rows: number, seed: number): Float32Array {
  const random = createSeededRandom(seed);
  return Float32Array.from({ length: rows * model.manifest.text.hiddenSize }, () => random() * 2 - 1);
}

async function alone(model: DecoderModel, request: GenerationRequest): Promise<GenerationResult> {
  return generate(model, request);
}

/**
 * Submits `requests` to a scheduler; request i > 0 joins once request `joinAfter[i].of` has streamed
 * `joinAfter[i].tokens` updates (so requests join a running batch at chosen steps); `abortAfter` aborts one request
 * after that many updates.
 */
async function inBatch(
  scheduler: DecodeScheduler,
  requests: GenerationRequest[],
  joinAfter: ReadonlyArray<{ of: number; updates: number } | undefined>,
  abortAfter?: { index: number; updates: number },
): Promise<GenerationResult[]> {
  const results: Promise<GenerationResult>[] = [];
  const updates = requests.map(() => 0);
  const pending = new Set(requests.keys());
  const controllers = requests.map(() => new AbortController());
  const submit = (index: number) => {
    pending.delete(index);
    results[index] = scheduler.submit({
      ...requests[index]!,
      signal: controllers[index]!.signal,
      onText: () => {
        updates[index]!++;
        if (abortAfter?.index === index && updates[index] === abortAfter.updates) controllers[index]!.abort();
        for (const waiting of [...pending]) {
          const when = joinAfter[waiting];
          if (when?.of === index && updates[index]! >= when.updates) submit(waiting);
        }
      },
    });
  };
  for (const index of [...pending]) if (joinAfter[index] === undefined) submit(index);
  const settled = await Promise.all(
    requests.map(async (_, index) => {
      while (results[index] === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
      return results[index]!;
    }),
  );
  return settled;
}

describe('DecodeScheduler', () => {
  it('gives every greedy request the ids it gets alone, with requests joining and leaving at random steps', async () => {
    const random = createSeededRandom(42);
    for (const seed of [1, 2, 3]) {
      const pick = createSeededRandom(seed);
      // Mixed lengths (some over the prefill chunk; one over the host pool's first width of 128 positions, so the pool
      // is laid out wider while others decode, and narrower once it leaves), one with image vectors before its text.
      const requests: GenerationRequest[] = [6, 40, 13, 70, 9, 25, 300].map((length, index) => ({
        promptTokenIds: prompt(index + seed * 10, length),
        settings: { ...greedy, maxNewTokens: 8 + Math.floor(pick() * 20) },
        ...(index === 2 ? { prefixEmbeddings: imageVectors(right, 32, seed) } : {}),
      }));
      const expected: GenerationResult[] = [];
      for (const request of requests) expected.push(await alone(right, request));
      const joinAfter = requests.map((_, index) =>
        index < 2 ? undefined : { of: Math.floor(random() * index), updates: 1 + Math.floor(random() * 4) },
      );
      const scheduler = new DecodeScheduler(right, { batchSize: 4, prefillChunk: 16 });
      const together = await inBatch(scheduler, requests, joinAfter);
      await scheduler.close();
      together.forEach((result, index) => {
        expect(result.tokenIds, `seed ${seed}, request ${index}`).toEqual(expected[index]!.tokenIds);
        expect(result.text).toBe(expected[index]!.text);
        expect(result.finishReason).toBe(expected[index]!.finishReason);
      });
    }
  });

  it('keeps a decoding row within 1e-4 of its batch-1 logits while others share the step', async () => {
    const probe: GenerationRequest = { promptTokenIds: prompt(0, 12), settings: { ...greedy, maxNewTokens: 16 } };
    // Alone through GroupQueryAttention (presents in a shared buffer); in the batch, decode steps.
    const aloneLogits = await recordRowZeroLogits(right, (model) => generate(model, probe), { decodeSteps: false });
    const batchLogits = await recordRowZeroLogits(right, async (model) => {
      // Whole prompts per prefill run: a decode step is then the only single-position run.
      const scheduler = new DecodeScheduler(model, { batchSize: 4, prefillChunk: 1024 });
      await inBatch(
        scheduler,
        [
          probe,
          ...[30, 7, 50].map((length, index) => ({ promptTokenIds: prompt(index + 1, length), settings: greedy })),
        ],
        [undefined, { of: 0, updates: 2 }, { of: 0, updates: 4 }, undefined],
      );
      await scheduler.close();
    });
    expect(batchLogits.length).toBe(aloneLogits.length);
    let largest = 0;
    aloneLogits.forEach((row, step) => {
      row.forEach((value, index) => {
        largest = Math.max(largest, Math.abs(value - batchLogits[step]![index]!));
      });
    });
    console.log(`largest logit difference, batch vs alone: ${largest.toExponential(2)}`);
    expect(largest).toBeLessThan(1e-4);
  });

  it('reproduces a seeded sampled reply whatever shares its batch, and aborts one row without disturbing the rest', async () => {
    const seededRequest: GenerationRequest = {
      promptTokenIds: prompt(3, 20),
      settings: { ...sampled, maxNewTokens: 24, seed: 1234 },
    };
    const others: GenerationRequest[] = [11, 33, 5].map((length, index) => ({
      promptTokenIds: prompt(index + 20, length),
      settings: { ...sampled, maxNewTokens: 20, seed: index },
    }));
    const expected = await alone(right, seededRequest);
    const expectedOthers = await Promise.all(others.map((request) => alone(right, request)));
    const scheduler = new DecodeScheduler(right, { batchSize: 3, prefillChunk: 8 });
    const [seeded, aborted, ...rest] = await inBatch(
      scheduler,
      [seededRequest, ...others],
      [undefined, undefined, { of: 1, updates: 3 }, { of: 0, updates: 5 }],
      { index: 1, updates: 4 },
    );
    await scheduler.close();
    expect(seeded!.text).toBe(expected.text);
    expect(aborted!.finishReason).toBe('aborted');
    expect(aborted!.tokenIds).toEqual(expectedOthers[0]!.tokenIds.slice(0, aborted!.tokenIds.length));
    expect(aborted!.tokenIds.length).toBeLessThan(expectedOthers[0]!.tokenIds.length);
    expect(rest.map((result) => result.tokenIds)).toEqual(expectedOthers.slice(1).map((result) => result.tokenIds));
  });

  it('honours stop strings, token limits and the context budget per row', async () => {
    const base: GenerationRequest = { promptTokenIds: prompt(7, 10), settings: { ...greedy, maxNewTokens: 30 } };
    const reference = await alone(right, base);
    const stop = reference.text.slice(4, 6);
    expect(stop.length).toBe(2);
    const stopped: GenerationRequest = { ...base, stop: [stop] };
    const limited: GenerationRequest = { ...base, settings: { ...greedy, maxNewTokens: 3 } };
    const full: GenerationRequest = {
      promptTokenIds: prompt(8, 509).slice(0, 509),
      settings: { ...greedy, maxNewTokens: 30 },
    };
    const expected = await Promise.all([stopped, limited, full].map((request) => alone(right, request)));
    const scheduler = new DecodeScheduler(right, { batchSize: 3, prefillChunk: 64 });
    const results = await Promise.all([stopped, limited, full].map((request) => scheduler.submit(request)));
    await scheduler.close();
    expect(results[0]!.text).toBe(expected[0]!.text);
    expect(results[0]!.text).not.toContain(stop);
    expect(results[1]!.generatedTokens).toBe(3);
    expect(results[1]!.finishReason).toBe('length');
    expect(results[2]!.promptTokens).toBe(509);
    expect(results[2]!.generatedTokens).toBe(3);
    expect(results[2]!.tokenIds).toEqual(expected[2]!.tokenIds);
  });

  it('queues requests beyond its slots and answers them as slots free up', async () => {
    const requests = [5, 9, 14, 6, 11].map((length, index) => ({
      promptTokenIds: prompt(index + 40, length),
      settings: { ...greedy, maxNewTokens: 6 + index },
    }));
    const expected: GenerationResult[] = [];
    for (const request of requests) expected.push(await alone(right, request));
    const occupied: number[] = [];
    const scheduler = new DecodeScheduler(right, {
      batchSize: 2,
      observer: { occupied: (slots) => occupied.push(slots) },
    });
    const results = await Promise.all(requests.map((request) => scheduler.submit(request)));
    await scheduler.close();
    expect(results.map((result) => result.tokenIds)).toEqual(expected.map((result) => result.tokenIds));
    expect(Math.max(...occupied)).toBe(2);
    expect(occupied.at(-1)).toBe(0);
  });

  it('sizes the chunks of a joining prompt to the pause others may wait, from the measured prefill speed', async () => {
    // A clock each run moves on by 4 ms per new position and row: 200 ms of pause is 50 positions, 48 in chunks of 16.
    let clock = 0;
    let joinerPrefilling = false;
    const widthsWhileJoining: number[] = [];
    const timed: DecoderModel = Object.create(right, {
      runDecoder: {
        value: async (step: DecoderStep) => {
          clock += 4 * step.batch * step.sequence;
          if (joinerPrefilling && step.sequence === 1) widthsWhileJoining.push(step.past.keys[0]!.dims[2]!);
          return right.runDecoder(step);
        },
      },
    });
    const chunks: { positions: number; runnerDecoding: boolean }[] = [];
    const gaps: number[] = [];
    let runnerStreaming = false;
    const scheduler = new DecodeScheduler(timed, {
      batchSize: 2,
      prefillChunk: 256,
      prefillPauseMs: 200,
      now: () => clock,
      observer: {
        prefill: (positions) => {
          chunks.push({ positions, runnerDecoding: runnerStreaming });
          const joined = chunks.slice(1).reduce((sum, chunk) => sum + chunk.positions, 0);
          joinerPrefilling = chunks.length > 1 && joined < joiner.promptTokenIds.length;
        },
        token: (gap) => gaps.push(gap),
      },
    });
    const runner: GenerationRequest = { promptTokenIds: prompt(60, 40), settings: { ...greedy, maxNewTokens: 60 } };
    const joiner: GenerationRequest = { promptTokenIds: prompt(61, 300), settings: { ...greedy, maxNewTokens: 4 } };
    const [runnerResult, joinerResult] = await inBatch(
      scheduler,
      [
        {
          ...runner,
          onText: () => {
            runnerStreaming = true;
          },
        },
        joiner,
      ],
      [undefined, { of: 0, updates: 2 }],
    );
    await scheduler.close();

    // Alone, the runner's 40-position prompt went in one run; the joiner's 300 positions in paced chunks.
    expect(chunks[0]).toEqual({ positions: runner.promptTokenIds.length, runnerDecoding: false });
    const joining = chunks.slice(1).map((chunk) => chunk.positions);
    expect(joining.reduce((sum, positions) => sum + positions, 0)).toBe(joiner.promptTokenIds.length);
    // The speed is known from the runner's prefill, so from the first chunk on: 48 positions.
    expect(joining.length).toBe(Math.ceil(joiner.promptTokenIds.length / 48));
    for (const positions of joining.slice(0, -1)) expect(positions).toBe(48);
    // So no token of the runner waited more than one chunk and one step of two rows: 48 × 4 + 2 × 4 ms.
    expect(Math.max(...gaps)).toBeLessThanOrEqual(200);
    // Meanwhile the runner's steps were handed caches as wide as the runner needs, not the joiner's prompt: it is
    // prefilled apart and written into its slot after its last chunk.
    expect(widthsWhileJoining.length).toBeGreaterThan(3);
    expect(Math.max(...widthsWhileJoining)).toBeLessThanOrEqual(128);
    expect(runnerResult!.tokenIds).toEqual((await alone(right, runner)).tokenIds);
    expect(joinerResult!.tokenIds).toEqual((await alone(right, joiner)).tokenIds);
  });

  it('decodes in steps that read the pool in place, and with whole presents where the decoder has no such steps', async () => {
    const requests = [9, 40, 17].map((length, index) => ({
      promptTokenIds: prompt(index + 70, length),
      settings: { ...greedy, maxNewTokens: 10 },
    }));
    for (const model of [right, half]) {
      const steps: { decodeStep: boolean; presentInto: boolean; presentPositions: number }[] = [];
      const recording: DecoderModel = Object.create(model, {
        runDecoder: {
          value: async (step: DecoderStep) => {
            const output = await model.runDecoder(step);
            if (step.sequence === 1 && step.batch > 1) {
              const presentPositions = output.present.keys[0]!.dims[2]!;
              steps.push({
                decodeStep: step.decodeStep === true,
                presentInto: step.presentInto !== undefined,
                presentPositions,
              });
            }
            return output;
          },
        },
      });
      const expected: GenerationResult[] = [];
      for (const request of requests) expected.push(await alone(model, request));
      const scheduler = new DecodeScheduler(recording, { batchSize: 3 });
      const results = await Promise.all(requests.map((request) => scheduler.submit(request)));
      await scheduler.close();
      expect(
        results.map((result) => result.tokenIds),
        model.manifest.dtype,
      ).toEqual(expected.map((result) => result.tokenIds));
      expect(steps.length).toBeGreaterThan(8);
      if (model === right) {
        expect(steps.every((step) => step.decodeStep && !step.presentInto && step.presentPositions === 1)).toBe(true);
      } else {
        expect(steps.every((step) => !step.decodeStep && step.presentInto && step.presentPositions >= 128)).toBe(true);
      }
    }
  });

  it('refuses to batch a decoder built with --padding any, and runs it at batch size 1', async () => {
    expect(() => new DecodeScheduler(any, { batchSize: 4 })).toThrow(/--padding right/);
    const request: GenerationRequest = { promptTokenIds: prompt(1, 30), settings: greedy };
    const scheduler = new DecodeScheduler(any, { batchSize: 1, prefillChunk: 8 });
    const [first, second] = await Promise.all([scheduler.submit(request), scheduler.submit(request)]);
    await scheduler.close();
    const expected = await alone(any, request);
    expect(first!.tokenIds).toEqual(expected.tokenIds);
    expect(second!.tokenIds).toEqual(expected.tokenIds);
  });
});

/**
 * Runs `work` on a wrapper of `model` that records row 0's logits of every decode step (the steps of the first
 * request submitted, which holds slot 0).
 */
async function recordRowZeroLogits(
  model: LanguageModel,
  work: (model: DecoderModel) => Promise<unknown>,
  options: { decodeSteps?: boolean } = {},
): Promise<Float32Array[]> {
  const recorded: Float32Array[] = [];
  const vocabulary = model.manifest.text.vocabSize;
  const wrapper: DecoderModel = {
    manifest: model.manifest,
    tokenizer: model.tokenizer,
    cacheType: model.cacheType,
    decodeSteps: options.decodeSteps ?? model.decodeSteps,
    get sharedBufferSupported() {
      return model.sharedBufferSupported;
    },
    set sharedBufferSupported(value) {
      model.sharedBufferSupported = value;
    },
    embedTokens: (ids) => model.embedTokens(ids),
    emptyCache: (batch) => model.emptyCache(batch),
    allocateCache: (batch, length) => model.allocateCache(batch, length),
    async runDecoder(step: DecoderStep) {
      const output = await model.runDecoder(step);
      // A decode step of row 0: one position, and row 0's mask longer than one (a padding row's is one).
      if (step.sequence === 1 && step.attentionMask.length / step.batch > 1 && step.attentionMask[1] === 1n) {
        recorded.push(output.logits.slice(0, vocabulary));
      }
      return output;
    },
  };
  await work(wrapper);
  return recorded;
}
