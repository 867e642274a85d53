import { createSeededRandom } from '../../../workers/runtime/seeded-random.ts';

/** One request of the replayed trace: its prompt ids and, for open-loop runs, when it arrives. */
export interface TraceRequest {
  promptTokenIds: number[];
  /** Milliseconds after the run starts (Poisson arrivals); 0 in closed loops. */
  arrivalMs: number;
}

/** A load level: a closed loop of `concurrency` clients, or Poisson arrivals at `rate` requests per second. */
export type LoadLevel = { kind: 'closed'; concurrency: number } | { kind: 'poisson'; rate: number };

/** What one engine's child process is asked to run. */
export interface ServeRequest {
  engine: 'ours' | 'llama.cpp';
  /** Our model directory, or the GGUF with the same weights. */
  modelPath: string;
  threads: number;
  newTokens: number;
  /** Requests per level. */
  requests: number;
  levels: LoadLevel[];
  seed: number;
  /** Slots (ours) or sequences (llama.cpp) for the open-loop levels and the largest closed loop. */
  slots: number;
  /** Also measure the pause a long prompt joining 4 running sequences causes (ours only). */
  joinPrompt?: number;
}

/** What a child reports for one level. */
export interface LevelResult {
  level: LoadLevel;
  requests: number;
  generatedTokens: number;
  wallSeconds: number;
  /** Generated tokens per second over the whole level, all sequences together. */
  aggregateTokensPerSecond: number;
  firstTokenMs: { p50: number; p99: number };
  interTokenMs: { p50: number; p99: number };
  /** Where our scheduler's time went (ours only): decode steps, and prefill runs of joining prompts. */
  breakdown?: { steps: number; stepRows: number; stepMs: number; prefillMs: number };
}

/** A child's whole report. */
export interface ServeReport {
  engine: ServeRequest['engine'];
  levels: LevelResult[];
  /** Largest gap between two tokens of a running sequence while a `joinPrompt`-token prompt joined. */
  joinPause?: { pacedMs: number; chunkedMs: number; unchunkedMs: number; prompt: number };
}

/**
 * The replayed trace: prompts of mixed lengths (16 to 384 positions, BOS first, then ordinary LLaMA pieces in a
 * seeded order), the same ids for both engines, with Poisson arrival times for `rate` requests per second.
 */
export function serveTrace(count: number, seed: number, rate = 0): TraceRequest[] {
  const random = createSeededRandom(seed);
  let clock = 0;
  return Array.from({ length: count }, () => {
    const length = 16 + Math.floor(random() * 369);
    const promptTokenIds = [1, ...Array.from({ length: length - 1 }, () => 259 + Math.floor(random() * 31000))];
    if (rate > 0) clock += (-Math.log(1 - random()) / rate) * 1000;
    return { promptTokenIds, arrivalMs: clock };
  });
}

/** The p-th percentile of `values` (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A level's figures from what the run recorded. */
export function levelResult(
  level: LoadLevel,
  recorded: { requests: number; tokens: number; wallMs: number; firstTokenMs: number[]; gapsMs: number[] },
): LevelResult {
  return {
    level,
    requests: recorded.requests,
    generatedTokens: recorded.tokens,
    wallSeconds: recorded.wallMs / 1000,
    aggregateTokensPerSecond: (recorded.tokens * 1000) / recorded.wallMs,
    firstTokenMs: { p50: percentile(recorded.firstTokenMs, 50), p99: percentile(recorded.firstTokenMs, 99) },
    interTokenMs: { p50: percentile(recorded.gapsMs, 50), p99: percentile(recorded.gapsMs, 99) },
  };
}

/**
 * Replays `trace` at `level` through `run` (one request start to finish): a closed loop keeps `concurrency` requests
 * in flight; an open loop starts each request at its arrival time.
 */
export async function replay(
  trace: readonly TraceRequest[],
  level: LoadLevel,
  run: (request: TraceRequest) => Promise<void>,
): Promise<number> {
  const started = performance.now();
  if (level.kind === 'closed') {
    let next = 0;
    const client = async () => {
      while (next < trace.length) await run(trace[next++]!);
    };
    await Promise.all(Array.from({ length: level.concurrency }, client));
  } else {
    await Promise.all(
      trace.map(async (request) => {
        const wait = request.arrivalMs - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await run(request);
      }),
    );
  }
  return performance.now() - started;
}
