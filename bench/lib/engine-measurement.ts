import type { ExecutionProvider } from '../../workers/runtime/onnx-session.ts';
/** Which implementation a measurement ran. */
export type EngineName = 'ours' | 'llama.cpp';

/** What one engine's child process was asked to do. */
export interface MeasurementRequest {
  engine: EngineName;
  /** A model directory (ours) or a GGUF file (llama.cpp). */
  modelPath: string;
  threads: number;
  promptTokens: number;
  newTokens: number;
  /** Timed repetitions after one warm-up; the best one is reported (other processes share the cores). */
  repeats: number;
  /** Where our engine runs. @defaultValue 'cpu' */
  executionProvider?: ExecutionProvider;
}

/** What one engine's child process reports, as one JSON line on stdout. */
export interface Measurement {
  engine: EngineName;
  loadSeconds: number;
  /** Prompt positions per second of the prefill (best repetition). */
  prefillTokensPerSecond: number;
  /** Decode steps per second after the first generated token (best repetition). */
  decodeTokensPerSecond: number;
  /** Decode steps timed in that repetition (fewer than asked when EOS came first). */
  decodeSteps: number;
  /**
   * Process CPU time per decode step, milliseconds (best repetition): what a token costs in work, which other
   * processes on the cores do not inflate as they do wall time (a spinning thread pool's waiting is counted).
   */
  decodeCpuMillisecondsPerToken: number;
  /** Every repetition's figures, to show the spread. */
  runs: { prefillTokensPerSecond: number; decodeTokensPerSecond: number; decodeCpuMillisecondsPerToken: number }[];
  /** Peak resident set of the child process, bytes (`process.resourceUsage().maxRSS`). */
  peakRssBytes: number;
}

/** Process CPU time (user + system) so far, milliseconds. */
export function cpuMilliseconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * The benchmark prompt: BOS then `length - 1` ordinary LLaMA pieces in a fixed scrambled order, the same ids for
 * both engines (neither tokenizer is involved).
 */
export function benchmarkPrompt(length: number): number[] {
  return [1, ...Array.from({ length: length - 1 }, (_, index) => 259 + ((index * 7919 + 13) % 31000))];
}
