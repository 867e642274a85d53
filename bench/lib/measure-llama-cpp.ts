import { getLlama, type Token } from 'node-llama-cpp';
import { benchmarkPrompt, cpuMilliseconds, type Measurement, type MeasurementRequest } from './engine-measurement.ts';

/**
 * Measures llama.cpp through node-llama-cpp at its own defaults (F16 KV cache, flash attention as it decides), as a
 * user of it would run it: the prefill is one `evaluateWithoutGeneratingNewTokens`, decode the `evaluate` stream.
 */
export async function measureLlamaCpp(request: MeasurementRequest): Promise<Omit<Measurement, 'peakRssBytes'>> {
  const loadStart = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: request.modelPath });
  const context = await model.createContext({
    contextSize: 2 * (request.promptTokens + request.newTokens),
    batchSize: request.promptTokens,
    threads: request.threads,
  });
  const sequence = context.getSequence();
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const prompt = benchmarkPrompt(request.promptTokens) as Token[];
  const runs: Measurement['runs'] = [];
  let decodeSteps = 0;

  async function decode(tokens: readonly Token[], count: number) {
    let generated = 0;
    let firstAt = 0;
    let lastAt = 0;
    let firstCpu = 0;
    let lastCpu = 0;
    for await (const _token of sequence.evaluate([...tokens], { temperature: 0, yieldEogToken: true })) {
      generated++;
      lastAt = performance.now();
      lastCpu = cpuMilliseconds();
      if (generated === 1) {
        firstAt = lastAt;
        firstCpu = lastCpu;
      }
      if (generated >= count) break;
    }
    return { steps: generated - 1, seconds: (lastAt - firstAt) / 1000, cpuMilliseconds: lastCpu - firstCpu };
  }

  try {
    await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 16));
    await sequence.clearHistory();
    await decode(prompt.slice(0, 16), 8);
    for (let repeat = 0; repeat < request.repeats; repeat++) {
      await sequence.clearHistory();
      const prefillStart = performance.now();
      await sequence.evaluateWithoutGeneratingNewTokens(prompt);
      const prefillSeconds = (performance.now() - prefillStart) / 1000;
      await sequence.clearHistory();
      const decoded = await decode(prompt, request.newTokens);
      decodeSteps = decoded.steps;
      runs.push({
        prefillTokensPerSecond: prompt.length / prefillSeconds,
        decodeTokensPerSecond: decoded.steps / decoded.seconds,
        decodeCpuMillisecondsPerToken: decoded.cpuMilliseconds / Math.max(1, decoded.steps),
      });
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  return {
    engine: 'llama.cpp',
    loadSeconds,
    prefillTokensPerSecond: Math.max(...runs.map((run) => run.prefillTokensPerSecond)),
    decodeTokensPerSecond: Math.max(...runs.map((run) => run.decodeTokensPerSecond)),
    decodeCpuMillisecondsPerToken: Math.min(...runs.map((run) => run.decodeCpuMillisecondsPerToken)),
    decodeSteps,
    runs,
  };
}
