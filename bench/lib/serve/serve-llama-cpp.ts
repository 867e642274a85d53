import { getLlama, type Token } from 'node-llama-cpp';
import {
  type LevelResult,
  levelResult,
  replay,
  type ServeReport,
  type ServeRequest,
  serveTrace,
} from './serve-trace.ts';

/**
 * Replays the trace through llama.cpp's own continuous batching: one context with as many sequences as the level
 * runs at once (`createContext({ sequences })`), each request evaluated on a free sequence, greedy.
 */
export async function serveLlamaCpp(request: ServeRequest): Promise<ServeReport> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: request.modelPath });
  const levels: LevelResult[] = [];
  try {
    for (const level of request.levels) {
      const sequences = level.kind === 'closed' ? level.concurrency : request.slots;
      const context = await model.createContext({
        sequences,
        contextSize: sequences * (384 + request.newTokens + 16),
        batchSize: 512,
        threads: request.threads,
      });
      const free = Array.from({ length: sequences }, () => context.getSequence());
      const waiters: ((sequence: (typeof free)[number]) => void)[] = [];
      const acquire = () =>
        free.length > 0 ? Promise.resolve(free.pop()!) : new Promise<(typeof free)[number]>((r) => waiters.push(r));
      const release = (sequence: (typeof free)[number]) => {
        const waiter = waiters.shift();
        if (waiter) waiter(sequence);
        else free.push(sequence);
      };
      const firstTokenMs: number[] = [];
      const gapsMs: number[] = [];
      let tokens = 0;
      const generate = async (promptTokenIds: number[], count: number, record: boolean) => {
        const sequence = await acquire();
        try {
          await sequence.clearHistory();
          const submitted = performance.now();
          let last = submitted;
          let generated = 0;
          for await (const _token of sequence.evaluate(promptTokenIds as Token[], {
            temperature: 0,
            yieldEogToken: true,
          })) {
            const now = performance.now();
            if (record) {
              if (generated === 0) firstTokenMs.push(now - submitted);
              else gapsMs.push(now - last);
            }
            last = now;
            generated++;
            if (generated >= count) break;
          }
          if (record) tokens += generated;
        } finally {
          release(sequence);
        }
      };
      await generate([1, 300, 400], 4, false);
      const trace = serveTrace(request.requests, request.seed, level.kind === 'poisson' ? level.rate : 0);
      const wallMs = await replay(trace, level, ({ promptTokenIds }) =>
        generate(promptTokenIds, request.newTokens, true),
      );
      await context.dispose();
      levels.push(levelResult(level, { requests: trace.length, tokens, wallMs, firstTokenMs, gapsMs }));
    }
  } finally {
    await model.dispose();
  }
  return { engine: 'llama.cpp', levels };
}
