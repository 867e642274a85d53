import { loadLanguageModel } from '../../../workers/runtime/language-model.ts';
import { DecodeScheduler } from '../../../workers/serving/decode-scheduler.ts';
import {
  type LevelResult,
  levelResult,
  replay,
  type ServeReport,
  type ServeRequest,
  serveTrace,
} from './serve-trace.ts';

/** A level's time breakdown before it starts. */
const noTimeSpent = (): NonNullable<LevelResult['breakdown']> => ({ steps: 0, stepRows: 0, stepMs: 0, prefillMs: 0 });

const greedy = { temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, doSample: false, seed: 0 };

/** Replays the trace through our decode scheduler (onnxruntime-node on the CPU), one level after another. */
export async function serveOurs(request: ServeRequest): Promise<ServeReport> {
  const model = await loadLanguageModel(request.modelPath, { executionProvider: 'cpu', threads: request.threads });
  const levels: LevelResult[] = [];
  try {
    for (const level of request.levels) {
      const slots = level.kind === 'closed' ? level.concurrency : request.slots;
      const firstTokenMs: number[] = [];
      const gapsMs: number[] = [];
      let breakdown = noTimeSpent();
      const scheduler = new DecodeScheduler(model, {
        batchSize: slots,
        observer: {
          firstToken: (ms) => firstTokenMs.push(ms),
          token: (ms) => gapsMs.push(ms),
          step: (rows, ms) => {
            breakdown.steps++;
            breakdown.stepRows += rows;
            breakdown.stepMs += ms;
          },
          prefill: (_, ms) => {
            breakdown.prefillMs += ms;
          },
        },
      });
      // Warm-up: one short request, not counted.
      await scheduler.submit({ promptTokenIds: [1, 300, 400], settings: { ...greedy, maxNewTokens: 4 } });
      firstTokenMs.length = 0;
      gapsMs.length = 0;
      breakdown = noTimeSpent();
      let tokens = 0;
      const trace = serveTrace(request.requests, request.seed, level.kind === 'poisson' ? level.rate : 0);
      const wallMs = await replay(trace, level, async ({ promptTokenIds }) => {
        const result = await scheduler.submit({
          promptTokenIds,
          settings: { ...greedy, maxNewTokens: request.newTokens },
        });
        tokens += result.generatedTokens;
      });
      await scheduler.close();
      levels.push({
        ...levelResult(level, { requests: trace.length, tokens, wallMs, firstTokenMs, gapsMs }),
        breakdown,
      });
    }
    const joinPause =
      request.joinPrompt === undefined
        ? undefined
        : {
            prompt: request.joinPrompt,
            pacedMs: await joinPauseMs(model, request, 256, 200),
            chunkedMs: await joinPauseMs(model, request, 256, Number.POSITIVE_INFINITY),
            unchunkedMs: await joinPauseMs(model, request, 1 << 20, Number.POSITIVE_INFINITY),
          };
    return { engine: 'ours', levels, ...(joinPause === undefined ? {} : { joinPause }) };
  } finally {
    await model.dispose();
  }
}

/**
 * Four sequences decode; once each has streamed a few tokens, a `joinPrompt`-position prompt joins. Returns the
 * largest gap between two tokens of the four from the join until each has had its token of the step after the
 * newcomer's prompt is all in the cache (that gap holds the prompt's last run), then stops them. `prefillChunk` caps
 * its chunks; `prefillPauseMs` sizes them (Infinity: always the cap).
 */
async function joinPauseMs(
  model: Awaited<ReturnType<typeof loadLanguageModel>>,
  request: ServeRequest,
  prefillChunk: number,
  prefillPauseMs: number,
): Promise<number> {
  let joining = false;
  let closingTokens = 0;
  let prefilled = false;
  let largest = 0;
  const runnersStop = new AbortController();
  const scheduler = new DecodeScheduler(model, {
    batchSize: 5,
    prefillChunk,
    prefillPauseMs,
    observer: {
      token: (gap) => {
        if (!joining) return;
        largest = Math.max(largest, gap);
        // The step after the prompt's last run: the four runners and the newcomer each get a token.
        if (prefilled && ++closingTokens === 5) {
          joining = false;
          runnersStop.abort();
        }
      },
      // The runners had their first tokens before the join: this one is the newcomer's (its prompt is in the cache;
      // the prompt may have been cut to the context budget, so its length is not the sign).
      firstToken: () => {
        if (joining) prefilled = true;
      },
    },
  });
  let streaming = 0;
  let allStreaming: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    allStreaming = resolve;
  });
  const runners = serveTrace(4, request.seed + 1).map(({ promptTokenIds }) => {
    let updates = 0;
    return scheduler.submit({
      promptTokenIds: promptTokenIds.slice(0, 32),
      settings: { ...greedy, maxNewTokens: 2000 },
      signal: runnersStop.signal,
      onText: () => {
        updates += 1;
        if (updates === 3 && ++streaming === 4) allStreaming();
      },
    });
  });
  await started;
  const long = serveTrace(1, request.seed + 2)[0]!.promptTokenIds;
  const prompt = Array.from({ length: request.joinPrompt! }, (_, index) => long[index % long.length]!);
  joining = true;
  const joined = scheduler.submit({ promptTokenIds: prompt, settings: { ...greedy, maxNewTokens: 2 } });
  await Promise.all([...runners, joined]);
  await scheduler.close();
  return largest;
}
