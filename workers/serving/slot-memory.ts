import { freemem } from 'node:os';
import { ConfigError } from '../../src/config/config-error.ts';
import type { DecoderModel } from '../runtime/decoder-model.ts';
import type { ExecutionProvider } from '../runtime/onnx-session.ts';
import { slotBytes } from './slot-pool.ts';

const gib = 1024 ** 3;

/** KV-cache bytes of one slot and of `batchSize` slots at the model's full context. */
export function slotMemory(
  model: Pick<DecoderModel, 'manifest' | 'cacheType'>,
  batchSize: number,
): { bytesPerSlot: number; totalBytes: number } {
  const bytesPerSlot = slotBytes(model, model.manifest.text.maxPositions);
  return { bytesPerSlot, totalBytes: bytesPerSlot * batchSize };
}

/** Memory this process may still take: free memory, or what its cgroup limit leaves when that is lower. */
export function availableHostMemory(): number {
  const limit = process.constrainedMemory();
  const free = freemem();
  return limit > 0 && limit < Number.MAX_SAFE_INTEGER ? Math.min(free, limit - process.memoryUsage.rss()) : free;
}

/**
 * Fails before the slot pool is allocated when it cannot fit: on the CPU the pool lives in host memory, so it must
 * fit in what is free (device memory is not known here and is left to the execution provider).
 */
export function checkSlotMemory(
  model: Pick<DecoderModel, 'manifest' | 'cacheType'>,
  batchSize: number,
  executionProvider: ExecutionProvider,
  available: number = availableHostMemory(),
): void {
  if (executionProvider !== 'cpu') return;
  const { bytesPerSlot, totalBytes } = slotMemory(model, batchSize);
  if (totalBytes <= available) return;
  const fits = Math.floor(available / bytesPerSlot);
  throw new ConfigError(
    'WORKER_BATCH_SIZE',
    `is ${batchSize}: its KV cache needs ${(totalBytes / gib).toFixed(1)} GiB (${(bytesPerSlot / gib).toFixed(2)} GiB a slot at ${model.manifest.text.maxPositions} positions), but only ${(available / gib).toFixed(1)} GiB of memory is free; ${fits > 0 ? `at most ${fits} fit` : 'not even one slot fits'}`,
  );
}
