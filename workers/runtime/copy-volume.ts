import type { TextConfig } from '../model/config.ts';
import type { ExecutionProvider } from './onnx-session.ts';

/** What one batched decode step looks like, for counting its copies. */
export interface DecodeStepShape {
  provider: ExecutionProvider;
  text: Pick<TextConfig, 'hiddenSize' | 'numHeads' | 'numKvHeads' | 'numLayers' | 'vocabSize'>;
  /** Bytes per cache element: 2 for fp16 builds, 4 for fp32 and int4 (float32 activations). */
  cacheElementBytes: 2 | 4;
  /** Sequences in the step. */
  batch: number;
  /** Positions already in the cache of each row (the longest row, for a batch). */
  positions: number;
  /**
   * Positions of a fixed-capacity cache: the webgpu device cache, or a shared past/present buffer on cuda (both
   * directions then move the whole buffer). Undefined on cuda: chained, past `positions`, present `positions + 1`.
   */
  capacity?: number;
}

/** Host↔device bytes of one decode step, by direction and by what moves. */
export interface StepTransfer {
  hostToDevice: number;
  deviceToHost: number;
  /** The part of both directions that is KV cache. */
  cacheBytes: number;
}

/**
 * Bytes copied between host and device memory in one decode step, from the decoder's tensor sizes.
 * - `cpu`: none; the host is the device.
 * - `cuda`: onnxruntime-node copies every input from the host and every output back each run, the KV cache
 *   included: past up, present down.
 * - `webgpu`: presents stay on the device as the next step's past; only the new token's embedding, the mask and
 *   the logits of the last position move.
 */
export function decodeStepTransfer(shape: DecodeStepShape): StepTransfer {
  const { provider, text, batch, positions } = shape;
  if (provider === 'cpu') return { hostToDevice: 0, deviceToHost: 0, cacheBytes: 0 };
  const perPosition =
    2 * text.numLayers * text.numKvHeads * (text.hiddenSize / text.numHeads) * shape.cacheElementBytes;
  const width = shape.capacity ?? positions + 1;
  const embeds = batch * text.hiddenSize * 4;
  const mask = batch * width * 8;
  const logitsToKeep = 8;
  const logits = batch * text.vocabSize * 4;
  if (provider === 'webgpu') {
    return { hostToDevice: embeds + mask + logitsToKeep, deviceToHost: logits, cacheBytes: 0 };
  }
  const past = batch * perPosition * (shape.capacity ?? positions);
  const present = batch * perPosition * width;
  return {
    hostToDevice: embeds + mask + logitsToKeep + past,
    deviceToHost: logits + present,
    cacheBytes: past + present,
  };
}
