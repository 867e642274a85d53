import type { DecoderModel, KeyValueTensors } from '../runtime/decoder-model.ts';
import { type Tensor, tensor } from '../runtime/onnx-session.ts';

/**
 * Where the decode scheduler keeps the KV cache of its sequences: `size` slots (batch rows) of `capacity` positions,
 * one tensor per layer and kind, `[size, kvHeads, capacity, headSize]`. Every decode step reads it as the past; a
 * joining sequence's prompt is written into a free slot first. The host pool below lives in JS memory; a
 * device-resident pool (WebGPU `gpu-buffer` tensors) implements the same interface and never brings the cache to JS.
 */
export interface SlotPool {
  /** Slots, i.e. the largest batch a step runs. */
  readonly size: number;
  /** Positions per slot (the model's context length). */
  readonly capacity: number;
  /** Bytes of one slot's cache, all layers, keys and values. */
  readonly bytesPerSlot: number;
  /**
   * True when a step's presents are written into the pool's own tensors (GroupQueryAttention's shared past/present
   * buffer): steps pass the cache as `presentInto`. False: a step's presents come back as new tensors, which
   * {@link SlotPool.adopt} takes as the cache.
   */
  readonly inPlace: boolean;
  /**
   * True when a step must always run all `size` rows with a mask as wide as `capacity` (static shapes, so that a GPU
   * compiles its kernels once). False: a step may run the first `rows` slots only, with a mask just wide enough.
   */
  readonly staticShapes: boolean;
  /** The cache of slots `[0, rows)`, per layer `[rows, kvHeads, capacity, headSize]`. */
  rows(rows: number): KeyValueTensors;
  /** Takes a step's presents as the new cache (pools that are not {@link SlotPool.inPlace}). */
  adopt(present: KeyValueTensors): void;
  /**
   * The cache of one slot, `[1, kvHeads, capacity, headSize]` over the pool's own memory, so that a joining
   * sequence's prompt can be written in place chunk by chunk; undefined when the pool cannot give such a view
   * (device memory): the prompt is then prefilled apart and copied in with {@link SlotPool.write}.
   */
  slot(slot: number): KeyValueTensors | undefined;
  /** Copies a separately prefilled cache `[1, kvHeads, length, headSize]` into positions `[0, length)` of `slot`. */
  write(slot: number, prefill: KeyValueTensors, length: number): Promise<void>;
  /** Frees the pool's memory. */
  dispose(): Promise<void>;
}

/** Bytes of one slot of `capacity` positions for a model's cache geometry and element type. */
export function slotBytes(model: Pick<DecoderModel, 'manifest' | 'cacheType'>, capacity: number): number {
  const { numLayers, numKvHeads, hiddenSize, numHeads } = model.manifest.text;
  const elementBytes = model.cacheType === 'float16' ? 2 : 4;
  return 2 * numLayers * numKvHeads * capacity * (hiddenSize / numHeads) * elementBytes;
}

/**
 * A slot pool in host memory (the CPU execution provider): one typed array per layer and kind, preallocated, which
 * the decoder updates in place. Views of the first rows or of one slot share that memory, so a step over part of
 * the pool and a prefill written straight into its slot cost no copy.
 */
export class HostSlotPool implements SlotPool {
  readonly inPlace = true;
  readonly staticShapes = false;
  readonly bytesPerSlot: number;
  private readonly cache: KeyValueTensors;
  private readonly views = new Map<string, KeyValueTensors>();

  constructor(
    private readonly model: DecoderModel,
    readonly size: number,
    readonly capacity: number = model.manifest.text.maxPositions,
  ) {
    this.bytesPerSlot = slotBytes(model, capacity);
    this.cache = model.allocateCache(size, capacity);
  }

  rows(rows: number): KeyValueTensors {
    if (rows === this.size) return this.cache;
    return this.view(0, rows);
  }

  adopt(): void {
    // In place: the decoder already wrote into the pool.
  }

  slot(slot: number): KeyValueTensors {
    return this.view(slot, 1);
  }

  async write(slot: number, prefill: KeyValueTensors, length: number): Promise<void> {
    const { numKvHeads, hiddenSize, numHeads } = this.model.manifest.text;
    const headSize = hiddenSize / numHeads;
    const copy = (target: Tensor, source: Tensor) => {
      const targetData = target.data as Float32Array | Uint16Array;
      const sourceData = source.data as Float32Array | Uint16Array;
      const sourceWidth = source.dims[2]!;
      for (let head = 0; head < numKvHeads; head++) {
        const from = head * sourceWidth * headSize;
        targetData.set(
          sourceData.subarray(from, from + length * headSize),
          (slot * numKvHeads + head) * this.capacity * headSize,
        );
      }
    };
    for (let layer = 0; layer < prefill.keys.length; layer++) {
      copy(this.cache.keys[layer]!, prefill.keys[layer]!);
      copy(this.cache.values[layer]!, prefill.values[layer]!);
    }
  }

  async dispose(): Promise<void> {
    // Host memory: released with the pool object.
  }

  /** Tensors over slots `[first, first + count)` of the pool's memory (made once, then reused). */
  private view(first: number, count: number): KeyValueTensors {
    const key = `${first}+${count}`;
    const made = this.views.get(key);
    if (made) return made;
    const perSlot = this.cache.keys[0]!.size / this.size;
    const over = (whole: Tensor) => {
      const data = whole.data as Float32Array | Uint16Array;
      const dims = [count, ...whole.dims.slice(1)];
      const part = data.subarray(first * perSlot, (first + count) * perSlot);
      return whole.type === 'float16' ? tensor('float16', part, dims) : tensor('float32', part, dims);
    };
    const view = { keys: this.cache.keys.map(over), values: this.cache.values.map(over) };
    this.views.set(key, view);
    return view;
  }
}
