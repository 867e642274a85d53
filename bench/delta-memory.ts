// Peak RSS of `build-model --from <delta> --delta-base <base>` next to a plain `--from` build of the same delta, at
// the `small` geometry and a mid size, with Ziya's vocabulary growth (32000 → 39424). Not a timed test: it prints.
// With --check, also builds both at fp32 from a checkpoint summed here and compares the graphs' data bitwise.
//   npx tsx bench/delta-memory.ts [small] [mid] [--check]
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeHfConfig } from '../test/model/builder-test-support.ts';
import { presets, type TextConfig } from '../workers/model/config.ts';
import { toFloat16 } from '../workers/model/quantize/float16.ts';
import { llamaWeightSpecs } from '../workers/model/weights/llama-weight-specs.ts';
import { RandomWeightSource } from '../workers/model/weights/random-weights.ts';
import { SafetensorsWeightSource } from '../workers/model/weights/safetensors-source.ts';
import type { FloatTensor } from '../workers/model/weights/weight-source.ts';

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

/**
 * Writes a safetensors checkpoint tensor by tensor (the header first, from the shapes), never the whole file in
 * memory: seeded random weights stored as F16, or `tensor(name)` stored as F32.
 */
function writeCheckpoint(
  directory: string,
  config: TextConfig,
  seed: number,
  tensor?: (name: string) => FloatTensor,
): number {
  mkdirSync(directory, { recursive: true });
  const specs = llamaWeightSpecs(config);
  const weights = new RandomWeightSource(seed, specs, `seed ${seed}`);
  const width = tensor === undefined ? 2 : 4;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, spec] of specs) {
    const bytes = spec.dims.reduce((product, size) => product * size, 1) * width;
    header[name] = { dtype: width === 2 ? 'F16' : 'F32', shape: spec.dims, data_offsets: [offset, offset + bytes] };
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
    const values = tensor === undefined ? toFloat16(weights.get(name).data) : tensor(name).data;
    writeSync(descriptor, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  closeSync(descriptor);
  writeHfConfig(directory, config);
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
const check = process.argv.includes('--check');
const sizeNames = process.argv.slice(2).filter((argument) => argument !== '--check');
for (const sizeName of sizeNames.length > 0 ? sizeNames : ['small', 'mid']) {
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
    // The embedding and lm_head come from the delta whole: the largest base tensor read is an MLP matrix.
    const largestBase = base.intermediateSize * base.hiddenSize * 4;
    process.stdout.write(
      `${sizeName}: hidden ${delta.hiddenSize}, ${delta.numLayers} layers, vocabulary 32000 → 39424; ` +
        `checkpoints ${mib(baseBytes)} base + ${mib(deltaBytes)} delta (F16), fp16 build\n` +
        `  plain --from build:       peak RSS ${mib(plain.peakRssBytes)} (${plain.seconds.toFixed(1)} s)\n` +
        `  --delta-base build:       peak RSS ${mib(applied.peakRssBytes)} (${applied.seconds.toFixed(1)} s)\n` +
        `  difference:               ${mib(applied.peakRssBytes - plain.peakRssBytes)}; ` +
        `bound: one base tensor in float32, an MLP matrix ${base.intermediateSize} × ${base.hiddenSize} × 4 B = ` +
        `${mib(largestBase)}\n`,
    );
    if (check) {
      // The target as the publisher's apply_delta.py defines it, summed here from the stored values: base + delta,
      // but the embedding and lm_head are the delta's whole.
      const deltaWeights = new SafetensorsWeightSource(join(temporary, 'delta'));
      const baseWeights = new SafetensorsWeightSource(join(temporary, 'base'));
      writeCheckpoint(join(temporary, 'summed'), delta, 0, (name) => {
        const sum = deltaWeights.get(name);
        if (name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return sum;
        const addend = baseWeights.get(name).data;
        for (let index = 0; index < addend.length; index++)
          sum.data[index] = Math.fround(sum.data[index]! + addend[index]!);
        return sum;
      });
      deltaWeights.close();
      baseWeights.close();
      build({
        from: join(temporary, 'delta'),
        deltaBase: join(temporary, 'base'),
        out: join(temporary, 'a32'),
        dtype: 'fp32',
      });
      build({ from: join(temporary, 'summed'), out: join(temporary, 's32'), dtype: 'fp32' });
      const same = ['embed.onnx', 'embed.onnx.data', 'decoder.onnx', 'decoder.onnx.data'].map((file) => {
        const equal = readFileSync(join(temporary, 'a32', file)).equals(readFileSync(join(temporary, 's32', file)));
        return `${file} ${equal ? 'identical' : 'DIFFERENT'}`;
      });
      process.stdout.write(`  fp32, --delta-base vs the summed checkpoint: ${same.join(', ')}\n`);
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}
