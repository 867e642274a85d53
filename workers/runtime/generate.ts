import type { DecoderModel, KeyValueTensors } from './decoder-model.ts';
import { releaseCache } from './device-cache-graphs.ts';
import type { GenerationRequest, GenerationResult } from './generation-types.ts';
import { SequenceProgress } from './sequence-progress.ts';
import { hostCaches, storeNewPositions } from './store-new-positions.ts';

/** How the KV cache moves between decoder runs. */
export type CacheMode = 'shared' | 'chained';

/** Joins the prefix vectors and the prompt's token embeddings into one [rows, hidden] block. */
export async function promptEmbeddings(model: DecoderModel, request: GenerationRequest): Promise<Float32Array> {
  const hidden = model.manifest.text.hiddenSize;
  const prefix = request.prefixEmbeddings ?? new Float32Array(0);
  if (prefix.length % hidden !== 0) {
    throw new RangeError(`prefixEmbeddings has ${prefix.length} values, not a multiple of the hidden size ${hidden}`);
  }
  const text = await model.embedTokens(request.promptTokenIds);
  if (prefix.length === 0) return text;
  const joined = new Float32Array(prefix.length + text.length);
  joined.set(prefix, 0);
  joined.set(text, prefix.length);
  return joined;
}

/** Context positions the request's prompt takes, and how many new tokens fit after it. */
export function promptBudget(
  model: DecoderModel,
  request: GenerationRequest,
): { promptTokens: number; maxNewTokens: number } {
  const hidden = model.manifest.text.hiddenSize;
  const promptTokens = (request.prefixEmbeddings?.length ?? 0) / hidden + request.promptTokenIds.length;
  if (promptTokens === 0) throw new RangeError('empty prompt: give promptTokenIds or prefixEmbeddings');
  const room = model.manifest.text.maxPositions - promptTokens;
  return { promptTokens, maxNewTokens: Math.max(0, Math.min(request.settings.maxNewTokens, room)) };
}

/** Token embeddings, remembered per id: a decode step then needs no run of the embedding graph. */
export class EmbeddingMemo {
  private readonly rows = new Map<number, Float32Array>();

  constructor(
    private readonly model: DecoderModel,
    private readonly limit = 4096,
  ) {}

  /** The embedding rows of `ids`, one after another. */
  async rowsOf(ids: readonly number[]): Promise<Float32Array> {
    const hidden = this.model.manifest.text.hiddenSize;
    const missing = [...new Set(ids.filter((id) => !this.rows.has(id)))];
    if (missing.length > 0) {
      const embedded = await this.model.embedTokens(missing);
      missing.forEach((id, index) => {
        if (this.rows.size >= this.limit) this.rows.clear();
        this.rows.set(id, embedded.slice(index * hidden, (index + 1) * hidden));
      });
    }
    const out = new Float32Array(ids.length * hidden);
    ids.forEach((id, index) => {
      const row = this.rows.get(id) ?? new Float32Array(hidden);
      out.set(row, index * hidden);
    });
    return out;
  }
}

/**
 * Generates one reply: a prefill over the whole prompt, then one decoder run per token with the KV cache. In
 * `shared` mode the cache is one buffer of the final length: a decoder built for decode steps reads it in place and
 * its new positions are stored into it; an older one updates it in place as its presents (GroupQueryAttention's
 * shared past/present buffer). In `chained` mode each run's presents become the next run's pasts.
 */
export async function generate(
  model: DecoderModel,
  request: GenerationRequest,
  options: { cacheMode?: CacheMode; embeddings?: EmbeddingMemo } = {},
): Promise<GenerationResult> {
  const startedAt = performance.now();
  const { promptTokens, maxNewTokens } = promptBudget(model, request);
  const progress = new SequenceProgress(request, model.tokenizer, model.manifest.text.eosTokenId, maxNewTokens);
  const timings = { prefillMs: 0, firstTokenMs: 0, decodeMs: 0, tokensPerSecond: 0 };
  if (request.signal?.aborted) progress.finish('aborted');
  if (progress.finished) return progress.result(promptTokens, timings);

  const embeddings = options.embeddings ?? new EmbeddingMemo(model);
  const capacity = promptTokens + maxNewTokens;
  const mask = new BigInt64Array(capacity).fill(1n);
  const inputsEmbeds = await promptEmbeddings(model, request);
  const prefillStart = performance.now();
  const runPrefill = (buffer: KeyValueTensors | undefined) =>
    model.runDecoder({
      inputsEmbeds,
      batch: 1,
      sequence: promptTokens,
      attentionMask: mask.subarray(0, promptTokens),
      past: buffer ?? model.emptyCache(1),
      logitsToKeep: 1,
      reuseLogits: true,
      ...(buffer ? { presentInto: buffer } : {}),
    });
  let buffer: KeyValueTensors | undefined;
  let prefill: Awaited<ReturnType<typeof runPrefill>>;
  const mode = options.cacheMode ?? (model.sharedBufferSupported === false ? 'chained' : 'shared');
  if (mode === 'shared') {
    buffer = model.allocateCache(1, capacity);
    try {
      prefill = await runPrefill(buffer);
      model.sharedBufferSupported = true;
    } catch (error) {
      // A decoder whose presents are not GroupQueryAttention's [batch, kv, capacity, head] buffer refuses the
      // pre-allocated outputs: remember that and run this model in chained mode from now on.
      if (options.cacheMode === 'shared' || model.sharedBufferSupported === true) throw error;
      model.sharedBufferSupported = false;
      buffer = undefined;
      prefill = await runPrefill(undefined);
    }
  } else {
    prefill = await runPrefill(undefined);
  }
  let past: KeyValueTensors = prefill.present;
  const decodeStart = performance.now();
  timings.prefillMs = decodeStart - prefillStart;
  progress.accept(prefill.logits);
  timings.firstTokenMs = performance.now() - startedAt;

  let total = promptTokens;
  let steps = 0;
  // With a shared buffer, a decoder built for decode steps reads it in place and returns only the new position,
  // stored here; otherwise each run returns the whole cache as its presents.
  const hostBuffer = buffer !== undefined && model.decodeSteps ? hostCaches(buffer) : undefined;
  while (!progress.finished) {
    if (request.signal?.aborted) {
      progress.finish('aborted');
      break;
    }
    total++;
    const output = await model.runDecoder({
      inputsEmbeds: await embeddings.rowsOf([progress.lastTokenId]),
      batch: 1,
      sequence: 1,
      attentionMask: mask.subarray(0, total),
      past,
      logitsToKeep: 1,
      reuseLogits: true,
      ...(hostBuffer ? { decodeStep: true } : buffer ? { presentInto: buffer } : {}),
    });
    if (hostBuffer) {
      storeNewPositions(hostBuffer, capacity, [{ row: 0, position: total - 1 }], output.present);
    } else {
      // Chained: the previous step's cache is done with (device memory is freed now, host memory left to the GC).
      if (past !== output.present) releaseCache(past);
      past = output.present;
    }
    steps++;
    progress.accept(output.logits);
  }
  if (!buffer) releaseCache(past);
  timings.decodeMs = performance.now() - decodeStart;
  timings.tokensPerSecond = steps > 0 ? (steps * 1000) / timings.decodeMs : 0;
  return progress.result(promptTokens, timings);
}
