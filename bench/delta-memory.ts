// Peak RSS of `build-model --from <delta> --delta-base <base>` next to a plain `--from` build of the same delta, at
// the `small` geometry and a mid size, with Ziya's vocabulary growth (32000 → 39424). Not a timed test: it prints.
//   npx tsx bench/delta-memory.ts [small] [mid]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { presets, type TextConfig } from '../workers/model/config.ts';
import { toFloat16 } from '../workers/model/quantize/float16.ts';
import { llamaWeightSpecs } from '../workers/model/weights/llama-weight-specs.ts';
import { RandomWeightSource } from '../workers/model/weights/random-weights.ts';

const sizes: Record<string, TextConfig> = {
  small: { ...presets.small.text, vocabSize: 39424 },
  // A third of LLaMA-13B's width at 8 layers: its embedding (39424 × 2560) is half the real one's.
  mid: {
    ...presets.small.text,
    hiddenSize: 2560,
    intermediateSize: 6912,
    numLayers: 8,
    numHeads: 20,
    numKvHeads: 20,
    vocabSize: 39424,
  },
};

/** Writes an F16 safetensors file tensor by tensor (the header first, from the shapes), never the whole file in memory. */
function writeCheckpoint(directory: string, config: TextConfig, seed: number): number {
  mkdirSync(directory, { recursive: true });
  const specs = llamaWeightSpecs(config);
  const weights = new RandomWeightSource(seed, specs, `seed ${seed}`);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, spec] of specs) {
    const bytes = spec.dims.reduce((product, size) => product * size, 1) * 2;
    header[name] = { dtype: 'F16', shape: spec.dims, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const descriptor = openSync(join(directory, 'model.safetensors'), 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeSync(descriptor, prefix);
  writeSync(descriptor, Buffer.from(json));
  for (const name of specs.keys()) {
    const half = toFloat16(weights.get(name).data);
    writeSync(descriptor, new Uint8Array(half.buffer, half.byteOffset, half.byteLength));
  }
  closeSync(descriptor);
  writeFileSync(
    join(directory, 'config.json'),
    JSON.stringify({
      model_type: 'llama',
      hidden_act: 'silu',
      hidden_size: config.hiddenSize,
      intermediate_size: config.intermediateSize,
      num_hidden_layers: config.numLayers,
      num_attention_heads: config.numHeads,
      num_key_value_heads: config.numKvHeads,
      rms_norm_eps: config.rmsNormEps,
      max_position_embeddings: config.maxPositions,
      vocab_size: config.vocabSize,
    }),
  );
  writeFileSync(join(directory, 'tokenizer.json'), '{}');
  return offset;
}

function build(request: object): { peakRssBytes: number; startRssBytes: number; seconds: number } {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', resolve(import.meta.dirname, 'lib/delta-build-child.ts'), JSON.stringify(request)],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (child.status !== 0) throw new Error(`build failed: ${child.stderr.slice(-2000)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
for (const sizeName of process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['small', 'mid']) {
  const delta = sizes[sizeName];
  if (delta === undefined) throw new Error(`unknown size ${sizeName}: small or mid`);
  const base = { ...delta, vocabSize: 32000 };
  const temporary = mkdtempSync(join(tmpdir(), `delta-memory-${sizeName}-`));
  try {
    const deltaBytes = writeCheckpoint(join(temporary, 'delta'), delta, 2);
    const baseBytes = writeCheckpoint(join(temporary, 'base'), base, 1);
    const plain = build({ from: join(temporary, 'delta'), out: join(temporary, 'plain'), dtype: 'fp16' });
    const applied = build({
      from: join(temporary, 'delta'),
      deltaBase: join(temporary, 'base'),
      out: join(temporary, 'applied'),
      dtype: 'fp16',
    });
    const largestBase = base.vocabSize * base.hiddenSize * 4;
    process.stdout.write(
      `${sizeName}: hidden ${delta.hiddenSize}, ${delta.numLayers} layers, vocabulary 32000 → 39424; ` +
        `checkpoints ${mib(baseBytes)} base + ${mib(deltaBytes)} delta (F16), fp16 build\n` +
        `  plain --from build:       peak RSS ${mib(plain.peakRssBytes)} (${plain.seconds.toFixed(1)} s)\n` +
        `  --delta-base build:       peak RSS ${mib(applied.peakRssBytes)} (${applied.seconds.toFixed(1)} s)\n` +
        `  difference:               ${mib(applied.peakRssBytes - plain.peakRssBytes)}; ` +
        `bound: one base tensor in float32, the embedding 32000 × ${base.hiddenSize} × 4 B = ${mib(largestBase)}\n`,
    );
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}
