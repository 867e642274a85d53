// `npm run bench:decode`: our decoder against llama.cpp on the same random weights, same run, same threads.
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type PresetName, presets } from '../workers/model/config.ts';
import { type ExecutionProvider, executionProviders } from '../workers/runtime/onnx-session.ts';
import { ensureBenchModels } from './lib/bench-models.ts';
import type { MeasurementRequest } from './lib/engine-measurement.ts';
import { type Comparison, formatComparison } from './lib/format-comparison.ts';
import { formatTransfer } from './lib/format-transfer.ts';
import { runMeasurement } from './lib/run-measurement.ts';

const defaults = {
  preset: 'small',
  seed: 0,
  threads: 2,
  prompt: 128,
  newTokens: 64,
  repeats: 3,
  cache: '.cache/bench-models',
} as const;

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: defaults.preset },
    seed: { type: 'string', default: String(defaults.seed) },
    threads: { type: 'string', default: String(defaults.threads) },
    prompt: { type: 'string', default: String(defaults.prompt) },
    'new-tokens': { type: 'string', default: String(defaults.newTokens) },
    repeats: { type: 'string', default: String(defaults.repeats) },
    cache: { type: 'string', default: defaults.cache },
    'execution-provider': { type: 'string', default: 'cpu' },
  },
});

if (!(values.preset in presets)) {
  console.error(`--preset ${values.preset}: expected one of ${Object.keys(presets).join(', ')}`);
  process.exit(2);
}
const preset = values.preset as PresetName;
const provider = values['execution-provider'] as ExecutionProvider;
if (!executionProviders.includes(provider)) {
  console.error(`--execution-provider ${provider}: expected one of ${executionProviders.join(', ')}`);
  process.exit(2);
}
const threads = Number(values.threads);
const log = (line: string) => console.log(line);

const text = presets[preset].text;
log(
  `bench:decode — preset ${preset} (hidden ${text.hiddenSize}, ${text.numLayers} layers, vocab ${text.vocabSize}), ` +
    `seed ${values.seed}, ${threads} threads, prompt ${values.prompt} tokens, ${values['new-tokens']} new tokens, ` +
    `best of ${values.repeats} after a warm-up`,
);
log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`);
// Copy volumes need no weights: printed for the bench preset and the real model's geometry.
for (const geometry of ['small', 'ziya-14b'] as const) {
  for (const line of formatTransfer(geometry, Number(values.prompt) + Number(values['new-tokens']))) log(line);
}

if (provider !== 'cpu') {
  // On a GPU there is no llama.cpp baseline here: our engine alone, on that execution provider.
  for (const pair of ensureBenchModels(resolve(values.cache), preset, Number(values.seed), log)) {
    const ours = await runMeasurement({
      engine: 'ours',
      modelPath: pair.modelDirectory,
      executionProvider: provider,
      threads,
      promptTokens: Number(values.prompt),
      newTokens: Number(values['new-tokens']),
      repeats: Number(values.repeats),
    }).catch((error: Error) => error);
    log(
      ours instanceof Error
        ? `  ${pair.label.split(' ')[0]} on ${provider}: ${ours.message.split('\n').find((line) => line.includes('Error')) ?? ours.message}`
        : `  ${pair.label.split(' ')[0]} on ${provider}: decode ${ours.decodeTokensPerSecond.toFixed(1)} tok/s, prefill ` +
            `${ours.prefillTokensPerSecond.toFixed(0)} tok/s (batch 1, best of ${values.repeats})`,
    );
  }
  process.exit(0);
}

const pairs = ensureBenchModels(resolve(values.cache), preset, Number(values.seed), log);
const comparisons: Comparison[] = [];
for (const pair of pairs) {
  const base = {
    threads,
    promptTokens: Number(values.prompt),
    newTokens: Number(values['new-tokens']),
    repeats: Number(values.repeats),
  } satisfies Omit<MeasurementRequest, 'engine' | 'modelPath'>;
  const loadBefore = loadavg()[0]!;
  log(`measuring ${pair.label} (load average ${loadBefore.toFixed(2)}) …`);
  const ours = await runMeasurement({ ...base, engine: 'ours', modelPath: pair.modelDirectory });
  const llamaCpp = await runMeasurement({ ...base, engine: 'llama.cpp', modelPath: pair.ggufPath });
  for (const measurement of [ours, llamaCpp]) {
    const runs = measurement.runs
      .map(
        (run) =>
          `${run.decodeTokensPerSecond.toFixed(1)}/${run.prefillTokensPerSecond.toFixed(0)}/` +
          run.decodeCpuMillisecondsPerToken.toFixed(1),
      )
      .join(', ');
    log(
      `  ${measurement.engine}: per run decode tokens/s / prefill tokens/s / decode CPU ms per token: ${runs}; ` +
        `${measurement.decodeSteps} decode steps`,
    );
  }
  comparisons.push({ label: pair.label, ours, llamaCpp });
}

log('');
log(formatComparison(comparisons));
log('');
log(
  `load average at the end: ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')} (other work on the cores lowers both)`,
);
const slower = comparisons.filter(
  (comparison) => comparison.ours.decodeTokensPerSecond < comparison.llamaCpp.decodeTokensPerSecond,
);
log(
  slower.length === 0
    ? 'decode target met: ours ≥ llama.cpp on every weight format'
    : `decode target NOT met on: ${slower.map((comparison) => comparison.label).join(', ')}`,
);
