// `npm run bench:serve`: continuous batching under load. One seeded trace (prompts of 16–384 positions, 128 new
// tokens each, greedy) replayed at closed-loop concurrency 1, 4, 8 and 16 and at two Poisson arrival rates, through
// our decode scheduler and through llama.cpp's own continuous batching (node-llama-cpp, one context with N
// sequences), on the same random weights, each engine in its own child process, same threads.
//
//   npm run bench:serve -- [--preset small] [--threads 2] [--new-tokens 128] [--dtypes f32,int4]
//                          [--concurrency 1,4,8,16] [--rates 0.5,1.5] [--requests 0 (= 2 × level, at least 4)]
//                          [--engines ours,llama.cpp] [--join-prompt 1500]
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type PresetName, presets } from '../workers/model/config.ts';
import { ensureBenchModels } from './lib/bench-models.ts';
import { runJsonChild } from './lib/run-child.ts';
import type { LevelResult, LoadLevel, ServeReport, ServeRequest } from './lib/serve/serve-trace.ts';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '2' },
    'new-tokens': { type: 'string', default: '128' },
    dtypes: { type: 'string', default: 'f32,int4' },
    concurrency: { type: 'string', default: '1,4,8,16' },
    rates: { type: 'string', default: '0.5,1.5' },
    requests: { type: 'string', default: '0' },
    engines: { type: 'string', default: 'ours,llama.cpp' },
    'join-prompt': { type: 'string', default: '1500' },
    cache: { type: 'string', default: '.cache/bench-models' },
  },
});
if (!(values.preset in presets)) {
  console.error(`--preset ${values.preset}: expected one of ${Object.keys(presets).join(', ')}`);
  process.exit(2);
}
const numbers = (list: string) => list.split(',').filter(Boolean).map(Number);
const concurrencies = numbers(values.concurrency);
const rates = numbers(values.rates);
const slots = Math.max(...concurrencies);
const levels: LoadLevel[] = [
  ...concurrencies.map((concurrency) => ({ kind: 'closed' as const, concurrency })),
  ...rates.map((rate) => ({ kind: 'poisson' as const, rate })),
];
const fixedRequests = Number(values.requests);
const requestsFor = (level: LoadLevel) =>
  fixedRequests > 0 ? fixedRequests : Math.max(4, 2 * (level.kind === 'closed' ? level.concurrency : slots));
const dtypes = values.dtypes.split(',');
const engines = values.engines.split(',') as ServeRequest['engine'][];
const entry = fileURLToPath(new URL('./lib/serve/serve-engine.ts', import.meta.url));

console.log(
  `bench:serve — preset ${values.preset}, ${values.threads} threads, ${values['new-tokens']} new tokens a request, ` +
    `${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}, ${new Date().toISOString()}`,
);
const pairs = ensureBenchModels(resolve(values.cache), values.preset as PresetName, Number(values.seed), (line) =>
  console.log(line),
).filter((pair) => dtypes.some((dtype) => pair.label.startsWith(dtype)));

const label = (level: LoadLevel) =>
  level.kind === 'closed' ? `closed c=${level.concurrency}` : `poisson ${level.rate}/s`;
const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '—');

for (const pair of pairs) {
  const reports = new Map<string, ServeReport>();
  for (const engine of engines) {
    // Each level its own request count: one child per level keeps every run's memory and threads its own.
    const levelsDone: LevelResult[] = [];
    let joinPause: ServeReport['joinPause'];
    for (const level of levels) {
      const request: ServeRequest = {
        engine,
        modelPath: engine === 'ours' ? pair.modelDirectory : pair.ggufPath,
        threads: Number(values.threads),
        newTokens: Number(values['new-tokens']),
        requests: requestsFor(level),
        levels: [level],
        seed: Number(values.seed),
        slots,
        ...(engine === 'ours' && level === levels[0] && Number(values['join-prompt']) > 0
          ? { joinPrompt: Number(values['join-prompt']) }
          : {}),
      };
      const report = await runJsonChild<ServeReport>(entry, request, `${engine} ${pair.label} ${label(level)}`);
      levelsDone.push(...report.levels);
      joinPause ??= report.joinPause;
      console.log(
        `  ${pair.label.padEnd(12)} ${engine.padEnd(9)} ${label(level).padEnd(14)} ` +
          `${fixed(report.levels[0]!.aggregateTokensPerSecond)} tok/s`,
      );
    }
    reports.set(engine, { engine, levels: levelsDone, ...(joinPause === undefined ? {} : { joinPause }) });
  }

  console.log(`\n${pair.label}: aggregate decode tok/s, time to first token and inter-token latency (ms, p50/p99)`);
  console.log(
    '| load | requests | ours tok/s | llama.cpp tok/s | ours / llama.cpp | ours TTFT | llama.cpp TTFT | ours ITL | llama.cpp ITL |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  const ours = reports.get('ours');
  const theirs = reports.get('llama.cpp');
  levels.forEach((level, index) => {
    const a = ours?.levels[index];
    const b = theirs?.levels[index];
    const ratio = a && b ? a.aggregateTokensPerSecond / b.aggregateTokensPerSecond : Number.NaN;
    const latency = (result: LevelResult | undefined, key: 'firstTokenMs' | 'interTokenMs') =>
      result ? `${fixed(result[key].p50, 0)} / ${fixed(result[key].p99, 0)}` : '—';
    console.log(
      `| ${label(level)} | ${(a ?? b)?.requests ?? '—'} | ${fixed(a?.aggregateTokensPerSecond ?? Number.NaN)} | ` +
        `${fixed(b?.aggregateTokensPerSecond ?? Number.NaN)} | ${fixed(ratio, 2)} | ${latency(a, 'firstTokenMs')} | ` +
        `${latency(b, 'firstTokenMs')} | ${latency(a, 'interTokenMs')} | ${latency(b, 'interTokenMs')} |`,
    );
  });
  // Where our time went: decode steps alone, against prompts prefilled (compute-bound, one request a run).
  levels.forEach((level, index) => {
    const result = ours?.levels[index];
    const parts = result?.breakdown;
    if (!result || !parts || parts.steps === 0) return;
    console.log(
      `ours ${label(level)}: ${parts.steps} decode steps of ${fixed(parts.stepRows / parts.steps, 2)} rows, ` +
        `${fixed(parts.stepMs / parts.steps)} ms each (decode alone ${fixed((parts.stepRows * 1000) / parts.stepMs)} tok/s); ` +
        `prefill ${fixed(parts.prefillMs / 1000, 2)} s of the level's ${fixed(result.wallSeconds, 2)} s`,
    );
  });
  const at = (report: ServeReport | undefined, concurrency: number) =>
    report?.levels.find((result) => result.level.kind === 'closed' && result.level.concurrency === concurrency);
  const ours1 = at(ours, 1);
  const ours8 = at(ours, 8);
  const theirs8 = at(theirs, 8);
  if (ours1 && ours8) {
    const scaling = ours8.aggregateTokensPerSecond / ours1.aggregateTokensPerSecond;
    console.log(`target: ours at 8 concurrent ÷ ours at 1 = ${scaling.toFixed(2)} (target ≥ 4.0 for f32)`);
  }
  if (ours8 && theirs8) {
    const ratio = ours8.aggregateTokensPerSecond / theirs8.aggregateTokensPerSecond;
    console.log(`target: ours ÷ llama.cpp at 8 concurrent = ${ratio.toFixed(2)} (target ≥ 1.0)`);
  }
  if (ours?.joinPause) {
    const { prompt, pacedMs, chunkedMs, unchunkedMs } = ours.joinPause;
    console.log(
      `join pause: a ${prompt}-position prompt joining 4 decoding sequences paused them at most ${fixed(pacedMs, 0)} ms ` +
        `with chunks paced to 200 ms (the default), ${fixed(chunkedMs, 0)} ms with fixed 256-position chunks, ` +
        `${fixed(unchunkedMs, 0)} ms prefilled in one run`,
    );
  }
  console.log('');
}
