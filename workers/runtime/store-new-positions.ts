import type { KeyValueTensors } from './decoder-model.ts';
import type { Tensor } from './onnx-session.ts';

/** One layer's keys or values in host memory: float32, or float16 bits. */
export type HostCache = Float32Array | Uint16Array;

/** The host arrays under a cache's tensors, per layer (the cache must be in host memory). */
export interface HostCaches {
  keys: HostCache[];
  values: HostCache[];
}

/** The typed arrays of a host cache's tensors, to be written in place. */
export function hostCaches(cache: KeyValueTensors): HostCaches {
  const data = (value: Tensor) => value.data as HostCache;
  return { keys: cache.keys.map(data), values: cache.values.map(data) };
}

/** Where a decode step's new position goes: its batch row in the step, and its index in that row's cache. */
export interface NewPosition {
  row: number;
  position: number;
}

/**
 * Stores the new keys and values of a decode step (`DecoderStep.decodeStep`: `[rows, kvHeads, 1, headSize]` per
 * layer) into host caches laid out `[rows, kvHeads, width, headSize]` (`caches`: one typed array per layer, keys
 * then values as in `added`), each listed row at its own position.
 */
export function storeNewPositions(
  caches: HostCaches,
  width: number,
  positions: readonly NewPosition[],
  added: KeyValueTensors,
): void {
  const store = (target: HostCache, source: Tensor) => {
    const [, kvHeads = 0, , headSize = 0] = source.dims;
    const data = source.data as HostCache;
    for (const { row, position } of positions) {
      if (position >= width) throw new RangeError(`position ${position} is outside a cache of ${width} positions`);
      for (let head = 0; head < kvHeads; head++) {
        const from = (row * kvHeads + head) * headSize;
        target.set(data.subarray(from, from + headSize), ((row * kvHeads + head) * width + position) * headSize);
      }
    }
  };
  for (let layer = 0; layer < added.keys.length; layer++) {
    store(caches.keys[layer]!, added.keys[layer]!);
    store(caches.values[layer]!, added.values[layer]!);
  }
}
