// `npm run bench:vision`: what one image question costs on the `small` preset (fp32, CPU), and what the image
// embedding cache saves on a follow-up question about the same picture.
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ChatModelRequest } from '../src/model/chat-model.ts';
import { MemoryEmbeddingCache } from '../workers/chat/memory-embedding-cache.ts';
import { ensureRandomModel, modelCacheRoot } from '../workers/chat/model-directory-cache.ts';
import { ZiyaChatModel, type ZiyaChatModelResult } from '../workers/chat/ziya-chat-model.ts';
import { readManifest } from '../workers/model/manifest.ts';
import { formatProgress, throttleProgress } from '../workers/model/progress.ts';

const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const maxNewTokens = Number(process.env['BENCH_TOKENS'] ?? 32);
const directory = process.env['BENCH_MODEL_DIR'] ?? join(modelCacheRoot(), 'bench-models', 'small-seed0-fp32');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A photo-sized JPEG with texture (noise over a gradient), so decoding and resizing do real work. */
async function photo(): Promise<Uint8Array> {
  const width = 1280;
  const height = 960;
  const gradient = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) gradient.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
  }
  const noise = await sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 0, sigma: 30 } },
  })
    .png()
    .toBuffer();
  return sharp(gradient, { raw: { width, height, channels: 3 } })
    .composite([{ input: noise, blend: 'add' }])
    .jpeg({ quality: 90 })
    .toBuffer();
}

const built = await ensureRandomModel({
  directory,
  preset: 'small',
  dtype: 'fp32',
  requirement: (manifest) => manifest.files.vision !== undefined,
  onProgress: throttleProgress(
    (event) => process.stderr.write(`building small-seed0-fp32: ${formatProgress(event)}\n`),
    2000,
  ),
});
const manifest = readManifest(directory);
if (manifest.files.vision === undefined) {
  throw new Error(`${directory} has no vision graph: the model builder wrote none`);
}
const cache = new MemoryEmbeddingCache();
const loadStart = performance.now();
const model = await ZiyaChatModel.load(directory, { executionProvider: 'cpu', embeddingCache: cache });
const loadMs = performance.now() - loadStart;
const bytes = await photo();
const sha256 = createHash('sha256').update(bytes).digest('hex');

const ask = (imageSha256: string, index: number): Promise<ZiyaChatModelResult> => {
  const request: ChatModelRequest = {
    requestId: `bench-${index}`,
    image: { sha256: imageSha256, bytes },
    history: [],
    question: 'What is in this picture? Describe it in detail.',
    language: 'en',
    instruction: 'Please answer in English.',
    generation: { doSample: false, maxNewTokens },
  };
  return model.answer(request);
};

await ask(`warm-up-${sha256}`, -1);
const uncached: ZiyaChatModelResult[] = [];
const cached: ZiyaChatModelResult[] = [];
for (let index = 0; index < runs; index++) {
  // A sha256 never seen before makes the cache miss; the real one, stored by the first miss, hits.
  uncached.push(await ask(`${sha256}-${index}`, index));
  if (index === 0) await ask(sha256, index);
  cached.push(await ask(sha256, index));
}
await model.close();
if (uncached.some((result) => result.usedCachedEmbedding) || cached.some((result) => !result.usedCachedEmbedding)) {
  throw new Error('the embedding cache did not behave as expected');
}

const row = (label: string, results: ZiyaChatModelResult[]) => {
  const pick = (key: keyof ZiyaChatModelResult['timings']) => median(results.map((result) => result.timings[key]));
  return {
    label,
    preprocessMs: pick('preprocessMs'),
    visionTowerMs: pick('visionTowerMs'),
    prefillMs: pick('prefillMs'),
    firstTokenMs: pick('firstTokenMs'),
    tokensPerSecond: pick('tokensPerSecond'),
    generated: median(results.map((result) => result.generatedTokens)),
  };
};
const rows = [row('image question (vision tower)', uncached), row('same picture again (cached)', cached)];
const [cold, warm] = rows as [ReturnType<typeof row>, ReturnType<typeof row>];

const { text, vision } = manifest;
console.log(`bench:vision — ${manifest.modelId} (${directory}${built ? ', built now' : ''})`);
console.log(
  `decoder ${text.numLayers} layers × ${text.hiddenSize}; vision ${vision?.numLayers} layers × ${vision?.hiddenSize}, ` +
    `Q-Former ${vision?.qformer.numLayers} × ${vision?.qformer.hiddenSize}; 1280×960 JPEG; greedy, ${maxNewTokens} new tokens; ` +
    `median of ${runs}; CPU, load average ${loadavg()[0]!.toFixed(1)}; model load ${loadMs.toFixed(0)} ms`,
);
console.table(
  rows.map((entry) => ({
    '': entry.label,
    'preprocess ms': entry.preprocessMs.toFixed(1),
    'vision tower ms': entry.visionTowerMs.toFixed(1),
    'prefill ms': entry.prefillMs.toFixed(1),
    'TTFT ms': entry.firstTokenMs.toFixed(1),
    'decode tok/s': entry.tokensPerSecond.toFixed(1),
    tokens: entry.generated,
  })),
);
console.log(
  `the cache saves ${(cold.firstTokenMs - warm.firstTokenMs).toFixed(1)} ms of time to first token: ` +
    `TTFT uncached / cached = ${(cold.firstTokenMs / warm.firstTokenMs).toFixed(2)}×`,
);
