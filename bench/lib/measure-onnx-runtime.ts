import { loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { benchmarkPrompt, cpuMilliseconds, type Measurement, type MeasurementRequest } from './engine-measurement.ts';

/** Measures our runtime (onnxruntime-node, CPU by default) through the same `generate` path the worker uses. */
export async function measureOnnxRuntime(request: MeasurementRequest): Promise<Omit<Measurement, 'peakRssBytes'>> {
  const loadStart = performance.now();
  const model = await loadLanguageModel(request.modelPath, {
    executionProvider: request.executionProvider ?? 'cpu',
    threads: request.threads,
  });
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const prompt = benchmarkPrompt(request.promptTokens);
  const settings = {
    maxNewTokens: request.newTokens,
    temperature: 0,
    topP: 1,
    topK: 0,
    repetitionPenalty: 1,
    doSample: false,
    seed: 0,
  };
  const runs: Measurement['runs'] = [];
  let decodeSteps = 0;
  try {
    await model.generate({ promptTokenIds: prompt.slice(0, 16), settings: { ...settings, maxNewTokens: 8 } });
    for (let repeat = 0; repeat < request.repeats; repeat++) {
      // `generate` reports no CPU time, so decode CPU = (prefill + decode) − (prefill + first token alone).
      const prefillCpuStart = cpuMilliseconds();
      await model.generate({ promptTokenIds: prompt, settings: { ...settings, maxNewTokens: 1 } });
      const prefillCpu = cpuMilliseconds() - prefillCpuStart;
      const cpuStart = cpuMilliseconds();
      const result = await model.generate({ promptTokenIds: prompt, settings });
      const decodeCpu = cpuMilliseconds() - cpuStart - prefillCpu;
      decodeSteps = Math.max(0, result.generatedTokens - 1);
      runs.push({
        prefillTokensPerSecond: (result.promptTokens * 1000) / result.timings.prefillMs,
        decodeTokensPerSecond: result.timings.tokensPerSecond,
        decodeCpuMillisecondsPerToken: decodeCpu / Math.max(1, decodeSteps),
      });
    }
  } finally {
    await model.dispose();
  }
  return {
    engine: 'ours',
    loadSeconds,
    prefillTokensPerSecond: Math.max(...runs.map((run) => run.prefillTokensPerSecond)),
    decodeTokensPerSecond: Math.max(...runs.map((run) => run.decodeTokensPerSecond)),
    decodeCpuMillisecondsPerToken: Math.min(...runs.map((run) => run.decodeCpuMillisecondsPerToken)),
    decodeSteps,
    runs,
  };
}
