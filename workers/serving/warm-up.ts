import type { DecoderModel } from '../runtime/decoder-model.ts';
import type { SlotPool } from './slot-pool.ts';

/** Positions of the warm-up prompt (a prefill of this length is compiled before the first request). */
export const warmUpPromptLength = 8;

/**
 * Runs the decoder at the shapes a {@link DecodeScheduler} uses, without a request (so no metrics): a short prompt's
 * prefill, its copy into slot 0, then one decode step over the pool (at a static pool's fixed shape: every row, the
 * full capacity). On a GPU execution provider this compiles the shaders (minutes on llvmpipe) before the worker says
 * it is ready. What it leaves in the pool is what a free slot holds anyway: a joining sequence overwrites its slot,
 * and the mask hides positions past a row's length.
 */
export async function warmUpDecoder(model: DecoderModel, pool: SlotPool): Promise<void> {
  const { bosTokenId, padTokenId } = model.manifest.text;
  const prompt = Array.from({ length: warmUpPromptLength }, (_, index) => (index === 0 ? bosTokenId : padTokenId));
  const view = pool.slot(0);
  const prefill = await model.runDecoder({
    inputsEmbeds: await model.embedTokens(prompt),
    batch: 1,
    sequence: prompt.length,
    attentionMask: new BigInt64Array(prompt.length).fill(1n),
    past: view ?? model.emptyCache(1),
    logitsToKeep: 1,
    ...(view ? { presentInto: view } : {}),
  });
  if (!view) await pool.write(0, prefill.present, prompt.length);
  const rows = pool.staticShapes ? pool.size : 1;
  const width = pool.staticShapes ? pool.capacity : prompt.length + 1;
  const mask = new BigInt64Array(rows * width);
  // Slot 0 decodes after its prompt; the other rows ride as free slots do, writing their position 0.
  for (let row = 0; row < rows; row++) mask.fill(1n, row * width, row * width + (row === 0 ? prompt.length + 1 : 1));
  const cache = pool.rows(rows);
  const step = await model.runDecoder({
    inputsEmbeds: await model.embedTokens(new Array<number>(rows).fill(padTokenId)),
    batch: rows,
    sequence: 1,
    attentionMask: mask,
    past: cache,
    logitsToKeep: 1,
    reuseLogits: true,
    ...(pool.inPlace ? { presentInto: cache } : {}),
  });
  if (!pool.inPlace) pool.adopt(step.present);
}
