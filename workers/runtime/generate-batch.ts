import { BatchRows } from './batch-rows.ts';
import type { DecoderModel, KeyValueTensors } from './decoder-model.ts';
import { type CacheMode, EmbeddingMemo, generate, promptBudget, promptEmbeddings } from './generate.ts';
import { generateBatchRightPadded } from './generate-batch-right-padded.ts';
import type { GenerationRequest, GenerationResult } from './generation-types.ts';

/**
 * Generates several replies together: one left-padded prefill over all prompts, then every decode step of all
 * unfinished replies in one decoder run (the attention mask hides the padding). Rows that finish early ride along
 * masked out until the last one is done. Each reply gets the tokens it would get alone (up to rounding: rotary
 * positions of a padded row are shifted by its padding, which attention does not see).
 *
 * Decoders built for right padding only (`decoderPadding: 'right'`) go through `generateBatchRightPadded`.
 *
 * The longest prompt sets the context: in a batch every reply may grow to `maxPositions - longestPrompt` tokens.
 */
export async function generateBatch(
  model: DecoderModel,
  requests: readonly GenerationRequest[],
  options: { cacheMode?: CacheMode } = {},
): Promise<GenerationResult[]> {
  if (requests.length === 0) return [];
  if (requests.length === 1) return [await generate(model, requests[0]!, options)];
  if (model.manifest.decoderPadding === 'right') return generateBatchRightPadded(model, requests, options);
  const startedAt = performance.now();
  const { hiddenSize, maxPositions, padTokenId } = model.manifest.text;
  const budgets = requests.map((request) => promptBudget(model, request));
  const longest = Math.max(...budgets.map((budget) => budget.promptTokens));
  const room = Math.max(0, maxPositions - longest);
  const batchRows = new BatchRows(
    model,
    requests,
    budgets.map((budget) => budget.promptTokens),
    budgets.map((budget) => Math.min(budget.maxNewTokens, room)),
    startedAt,
  );
  const { rows, timings, steps } = batchRows;
  const batch = rows.length;
  batchRows.abortFinished();
  if (batchRows.allFinished()) return batchRows.results();

  const newTokens = Math.max(
    ...rows.map((row, index) => (row.finished ? 0 : Math.min(budgets[index]!.maxNewTokens, room))),
  );
  const capacity = longest + newTokens;
  // Which positions of each row are real tokens; the decoder sees the first `total` columns.
  const real = new Uint8Array(batch * capacity);
  const embeds = new Float32Array(batch * longest * hiddenSize);
  for (let index = 0; index < batch; index++) {
    const length = budgets[index]!.promptTokens;
    const padding = longest - length;
    if (!rows[index]!.finished)
      embeds.set(await promptEmbeddings(model, requests[index]!), (index * longest + padding) * hiddenSize);
    real.fill(rows[index]!.finished ? 0 : 1, index * capacity + padding, index * capacity + longest);
  }
  const maskOf = (total: number) => {
    const mask = new BigInt64Array(batch * total);
    for (let index = 0; index < batch; index++) {
      for (let column = 0; column < total; column++)
        mask[index * total + column] = BigInt(real[index * capacity + column]!);
    }
    return mask;
  };

  const mode = options.cacheMode ?? (model.sharedBufferSupported === false ? 'chained' : 'shared');
  let buffer = mode === 'shared' ? model.allocateCache(batch, capacity) : undefined;
  const vocabulary = model.manifest.text.vocabSize;
  const acceptAll = (logits: Float32Array, active: boolean[]) => {
    const now = performance.now();
    rows.forEach((_row, index) => {
      if (active[index]) batchRows.accept(index, logits.subarray(index * vocabulary, (index + 1) * vocabulary), now);
    });
  };

  const prefillStart = performance.now();
  const runPrefill = () =>
    model.runDecoder({
      inputsEmbeds: embeds,
      batch,
      sequence: longest,
      attentionMask: maskOf(longest),
      past: buffer ?? model.emptyCache(batch),
      logitsToKeep: 1,
      reuseLogits: true,
      ...(buffer ? { presentInto: buffer } : {}),
    });
  let prefill: Awaited<ReturnType<typeof runPrefill>>;
  try {
    prefill = await runPrefill();
    if (buffer) model.sharedBufferSupported = true;
  } catch (error) {
    // As in `generate`: a decoder that refuses the shared buffer runs in chained mode from now on.
    if (!buffer || options.cacheMode === 'shared' || model.sharedBufferSupported === true) throw error;
    model.sharedBufferSupported = false;
    buffer = undefined;
    prefill = await runPrefill();
  }
  let past: KeyValueTensors = prefill.present;
  const prefillMs = performance.now() - prefillStart;
  for (const timing of timings) {
    timing.prefillMs = prefillMs;
    timing.firstTokenMs = performance.now() - startedAt;
  }
  acceptAll(
    prefill.logits,
    rows.map((row) => !row.finished),
  );

  const embeddings = new EmbeddingMemo(model);
  let total = longest;
  while (true) {
    batchRows.abortFinished();
    const active = rows.map((row) => !row.finished);
    if (!active.includes(true)) break;
    for (let index = 0; index < batch; index++) real[index * capacity + total] = active[index] ? 1 : 0;
    total++;
    const output = await model.runDecoder({
      inputsEmbeds: await embeddings.rowsOf(rows.map((row, index) => (active[index] ? row.lastTokenId : padTokenId))),
      batch,
      sequence: 1,
      attentionMask: maskOf(total),
      past,
      logitsToKeep: 1,
      reuseLogits: true,
      ...(buffer ? { presentInto: buffer } : {}),
    });
    past = output.present;
    active.forEach((isActive, index) => {
      if (isActive) steps[index]!++;
    });
    acceptAll(output.logits, active);
  }
  return batchRows.results();
}
