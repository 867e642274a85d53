import { GraphBuilder, inlineOnly } from '../model/onnx/graph-builder.ts';
import type { KeyValueTensors } from './decoder-model.ts';
import type { CacheType } from './model-directory-validation.ts';
import { createSession, releaseTensor, runSession, type Session, type Tensor, tensor } from './onnx-session.ts';

const names = {
  shape: 'shape',
  zeros: 'zeros',
  cache: 'cache',
  prefill: 'prefill',
  slot: 'slot',
  pads: 'pads',
  out: 'out',
};

/** `zeros = Expand(0, shape)`: a zeroed cache made on the device, so no zeros cross the bus. */
function zerosGraph(type: CacheType): Uint8Array {
  const graph = new GraphBuilder('device_cache_zeros', inlineOnly, Number.POSITIVE_INFINITY);
  graph.input(names.shape, 'int64', [4]);
  const zero =
    type === 'float16'
      ? graph.initializer('zero', 'float16', [], Uint16Array.of(0))
      : graph.constant('float32', [], [0], 'zero');
  graph.op('Expand', [zero, names.shape], undefined, { output: names.zeros });
  graph.output(names.zeros, type, ['batch', 'kv_heads', 'capacity', 'head_size']);
  return graph.encode();
}

/**
 * `out = ScatterND(cache, [[slot]], Pad(prefill, pads))`: one sequence's cache `[1, kv, length, head]`, padded with
 * zeros to the capacity, replaces row `slot` of a batch cache `[rows, kv, capacity, head]`.
 */
function writeRowGraph(type: CacheType): Uint8Array {
  const graph = new GraphBuilder('device_cache_write_row', inlineOnly, Number.POSITIVE_INFINITY);
  graph.input(names.cache, type, ['rows', 'kv_heads', 'capacity', 'head_size']);
  graph.input(names.prefill, type, [1, 'kv_heads', 'length', 'head_size']);
  graph.input(names.slot, 'int64', [1, 1]);
  graph.input(names.pads, 'int64', [8]);
  const padded = graph.op('Pad', [names.prefill, names.pads]);
  graph.op('ScatterND', [names.cache, names.slot, padded], undefined, { output: names.out });
  graph.output(names.out, type, ['rows', 'kv_heads', 'capacity', 'head_size']);
  return graph.encode();
}

/**
 * Small graphs that make and update KV caches in WebGPU device memory: the cache never comes to JS. Their outputs
 * are new `gpu-buffer` tensors (onnxruntime-node ignores pre-allocated device outputs), so an update hands back the
 * new tensor and the caller releases the old one.
 */
export class DeviceCacheGraphs {
  private constructor(
    private readonly zeros: Session,
    private readonly writeRow: Session,
  ) {}

  /** Compiles the graphs for a cache element type on the WebGPU execution provider. */
  static async create(type: CacheType): Promise<DeviceCacheGraphs> {
    const onDevice = (output: string) => ({ executionProvider: 'webgpu', deviceOutputs: [output] }) as const;
    const zeros = await createSession(zerosGraph(type), onDevice(names.zeros));
    try {
      return new DeviceCacheGraphs(zeros, await createSession(writeRowGraph(type), onDevice(names.out)));
    } catch (error) {
      await zeros.release();
      throw error;
    }
  }

  /** A zeroed device cache, one tensor per layer and kind, `[batch, kvHeads, capacity, headSize]`. */
  async zeroCache(layers: number, dims: readonly [number, number, number, number]): Promise<KeyValueTensors> {
    const shape = tensor(
      'int64',
      BigInt64Array.from(dims, (size) => BigInt(size)),
      [4],
    );
    const make = async () =>
      (await runSession(this.zeros, { [names.shape]: shape }, { [names.zeros]: null }))[names.zeros]!;
    const cache: KeyValueTensors = { keys: [], values: [] };
    for (let layer = 0; layer < layers; layer++) {
      cache.keys.push(await make());
      cache.values.push(await make());
    }
    return cache;
  }

  /**
   * Row `slot` of `cache` replaced by `prefill` (positions past the prefill's length become zeros), on the device.
   * Returns the new tensor; `cache` is left as it was.
   */
  async withRow(cache: Tensor, prefill: Tensor, slot: number): Promise<Tensor> {
    const capacity = cache.dims[2]!;
    const length = prefill.dims[2]!;
    if (prefill.dims[0] !== 1 || length > capacity) {
      throw new RangeError(`cannot write a [${prefill.dims}] cache into a row of [${cache.dims}]`);
    }
    const feeds = {
      [names.cache]: cache,
      [names.prefill]: prefill,
      [names.slot]: tensor('int64', BigInt64Array.of(BigInt(slot)), [1, 1]),
      [names.pads]: tensor('int64', BigInt64Array.of(0n, 0n, 0n, 0n, 0n, 0n, BigInt(capacity - length), 0n), [8]),
    };
    return (await runSession(this.writeRow, feeds, { [names.out]: null }))[names.out]!;
  }

  /** Releases both sessions. */
  async dispose(): Promise<void> {
    await Promise.all([this.zeros.release(), this.writeRow.release()]);
  }
}

/** Frees every device-resident tensor of a cache (host tensors are left to the garbage collector). */
export function releaseCache(cache: KeyValueTensors): void {
  for (const value of [...cache.keys, ...cache.values]) releaseTensor(value);
}
