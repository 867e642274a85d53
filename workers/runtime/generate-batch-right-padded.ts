import { BatchRows } from './batch-rows.ts';
import type { DecoderModel, KeyValueTensors } from './decoder-model.ts';
import { type CacheMode, EmbeddingMemo, promptBudget, promptEmbeddings } from './generate.ts';
import type { GenerationRequest, GenerationResult } from './generation-types.ts';
import type { Tensor } from './onnx-session.ts';

/** Copies one sequence's cache [1, kv, length, head] into row `row` of a batch cache [batch, kv, width, head]. */
function copyIntoRow(target: Tensor, source: Tensor, row: number, kvHeads: number, headSize: number): void {
  const targetData = target.data as Float32Array | Uint16Array;
  const sourceData = source.data as Float32Array | Uint16Array;
  const targetWidth = target.dims[2]!;
  const length = source.dims[2]!;
  for (let head = 0; head < kvHeads; head++) {
    const from = head * length * headSize;
    targetData.set(
      sourceData.subarray(from, from + length * headSize),
      (row * kvHeads + head) * targetWidth * headSize,
    );
  }
}

/**
 * Batched generation for decoders whose mask must be right-padded (`decoderPadding: 'right'`, GroupQueryAttention's
 * native per-row lengths): each prompt is prefilled alone, the caches are copied left-aligned into one batch cache,
 * and each decode step writes every row's token right after that row's own last one. Rotary positions are each
 * row's true positions, so replies match single generation exactly up to kernel rounding.
 */
export async function generateBatchRightPadded(
  model: DecoderModel,
  requests: readonly GenerationRequest[],
  options: { cacheMode?: CacheMode } = {},
): Promise<GenerationResult[]> {
  const startedAt = performance.now();
  const { padTokenId, vocabSize } = model.manifest.text;
  const { numKvHeads, headSize, numLayers } = cacheGeometry(model);
  const budgets = requests.map((request) => promptBudget(model, request));
  const batchRows = new BatchRows(
    model,
    requests,
    budgets.map((budget) => budget.promptTokens),
    budgets.map((budget) => budget.maxNewTokens),
    startedAt,
  );
  const { rows, timings, steps } = batchRows;
  const batch = rows.length;
  batchRows.abortFinished();
  if (batchRows.allFinished()) return batchRows.results();

  // Each row's cache length; rows finished before the prefill keep an empty one.
  const lengths = rows.map((row, index) => (row.finished ? 0 : budgets[index]!.promptTokens));
  const mode = options.cacheMode ?? (model.sharedBufferSupported === true ? 'shared' : 'chained');
  const capacity = Math.max(
    ...rows.map((row, index) => lengths[index]! + (row.finished ? 1 : budgets[index]!.maxNewTokens)),
  );
  const batchCache = model.allocateCache(batch, mode === 'shared' ? capacity : Math.max(...lengths));
  for (let index = 0; index < batch; index++) {
    if (rows[index]!.finished) continue;
    const prefillStart = performance.now();
    const length = lengths[index]!;
    const prefill = await model.runDecoder({
      inputsEmbeds: await promptEmbeddings(model, requests[index]!),
      batch: 1,
      sequence: length,
      attentionMask: new BigInt64Array(length).fill(1n),
      past: model.emptyCache(1),
      logitsToKeep: 1,
    });
    for (let layer = 0; layer < numLayers; layer++) {
      copyIntoRow(batchCache.keys[layer]!, prefill.present.keys[layer]!, index, numKvHeads, headSize);
      copyIntoRow(batchCache.values[layer]!, prefill.present.values[layer]!, index, numKvHeads, headSize);
    }
    timings[index]!.prefillMs = performance.now() - prefillStart;
    timings[index]!.firstTokenMs = performance.now() - startedAt;
    batchRows.accept(index, prefill.logits);
  }

  const buffer = mode === 'shared' ? batchCache : undefined;
  let past: KeyValueTensors = batchCache;
  const embeddings = new EmbeddingMemo(model);
  while (true) {
    batchRows.abortFinished();
    const active = rows.map((row) => !row.finished);
    if (!active.includes(true)) break;
    // A finished row keeps its length: its ignored token overwrites the same slot at each step.
    const total = Math.max(...lengths) + 1;
    const mask = new BigInt64Array(batch * total);
    for (let index = 0; index < batch; index++) mask.fill(1n, index * total, index * total + lengths[index]! + 1);
    const output = await model.runDecoder({
      inputsEmbeds: await embeddings.rowsOf(rows.map((row, index) => (active[index] ? row.lastTokenId : padTokenId))),
      batch,
      sequence: 1,
      attentionMask: mask,
      past,
      logitsToKeep: 1,
      reuseLogits: true,
      ...(buffer ? { presentInto: buffer } : {}),
    });
    past = output.present;
    active.forEach((isActive, index) => {
      if (!isActive) return;
      lengths[index]!++;
      steps[index]!++;
      batchRows.accept(index, output.logits.subarray(index * vocabSize, (index + 1) * vocabSize));
    });
  }
  return batchRows.results();
}

function cacheGeometry(model: DecoderModel): { numKvHeads: number; headSize: number; numLayers: number } {
  const { numKvHeads, numLayers, hiddenSize, numHeads } = model.manifest.text;
  return { numKvHeads, numLayers, headSize: hiddenSize / numHeads };
}
