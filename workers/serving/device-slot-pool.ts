import type { KeyValueTensors } from '../runtime/decoder-model.ts';
import { releaseCache } from '../runtime/device-cache-graphs.ts';
import type { LanguageModel } from '../runtime/language-model.ts';
import { isOnDevice, releaseTensor, type Tensor } from '../runtime/onnx-session.ts';
import { type SlotPool, slotBytes } from './slot-pool.ts';

/**
 * A slot pool in WebGPU device memory: per layer and kind one `gpu-buffer` tensor `[size, kvHeads, capacity,
 * headSize]` that never comes to JS. Every step runs all `size` rows at the model's fixed device capacity (static
 * shapes: shaders compile once); the step's presents, new device tensors of the same shape, become the cache
 * ({@link DeviceSlotPool.adopt}; onnxruntime-node cannot write into a given device tensor). A joining sequence,
 * prefilled apart, is copied into its row by a small graph on the device ({@link DeviceSlotPool.write}).
 *
 * Ownership: the pool frees the cache it replaces and, in `write`, the device prefill it was handed.
 */
export class DeviceSlotPool implements SlotPool {
  readonly inPlace = false;
  readonly staticShapes = true;
  readonly bytesPerSlot: number;
  readonly capacity: number;

  private constructor(
    private readonly model: LanguageModel,
    readonly size: number,
    private cache: KeyValueTensors,
  ) {
    this.capacity = model.device!.capacity;
    this.bytesPerSlot = slotBytes(model, this.capacity);
  }

  /** A zeroed pool of `size` slots at the model's device capacity; the model must run on `webgpu`. */
  static async create(model: LanguageModel, size: number): Promise<DeviceSlotPool> {
    const device = model.device;
    if (!device) throw new Error('a device slot pool needs a model loaded on the webgpu execution provider');
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`slot count must be ≥ 1, got ${size}`);
    const { numLayers, numKvHeads, headSize } = model.cacheGeometry;
    const cache = await device.graphs.zeroCache(numLayers, [size, numKvHeads, device.capacity, headSize]);
    return new DeviceSlotPool(model, size, cache);
  }

  /** The whole cache: a static-shape pool always runs every row. */
  rows(rows: number): KeyValueTensors {
    if (rows !== this.size) throw new RangeError(`a device slot pool runs all ${this.size} rows, not ${rows}`);
    return this.cache;
  }

  /** Takes a step's presents (device tensors of the pool's shape) as the cache and frees the previous one. */
  adopt(present: KeyValueTensors): void {
    const expected = [this.size, this.cache.keys[0]!.dims[1], this.capacity, this.cache.keys[0]!.dims[3]];
    for (const value of [...present.keys, ...present.values]) {
      if (!isOnDevice(value) || value.dims.some((size, axis) => size !== expected[axis])) {
        throw new RangeError(
          `a step's present [${value.dims}] (${value.location}) is not a [${expected}] device cache`,
        );
      }
    }
    const previous = this.cache;
    this.cache = present;
    releaseCache(previous);
  }

  /** No host view of device memory: prompts are prefilled apart and copied in with {@link DeviceSlotPool.write}. */
  slot(): undefined {
    return undefined;
  }

  /**
   * Copies a prefilled cache `[1, kvHeads, ≤ capacity, headSize]` into row `slot` on the device (positions past the
   * prefill's own width become zeros; GQA reads no further than a row's length anyway), then frees the prefill when
   * it is on the device. `length` is not needed: the whole prefill row is copied.
   */
  async write(slot: number, prefill: KeyValueTensors, _length: number): Promise<void> {
    if (!Number.isSafeInteger(slot) || slot < 0 || slot >= this.size) {
      throw new RangeError(`slot ${slot} is outside the pool's ${this.size} slots`);
    }
    const graphs = this.model.device!.graphs;
    const replace = async (tensors: Tensor[], sources: Tensor[]) => {
      for (let layer = 0; layer < tensors.length; layer++) {
        const updated = await graphs.withRow(tensors[layer]!, sources[layer]!, slot);
        releaseTensor(tensors[layer]!);
        tensors[layer] = updated;
      }
    };
    await replace(this.cache.keys, prefill.keys);
    await replace(this.cache.values, prefill.values);
    releaseCache(prefill);
  }

  /** Frees the device cache. */
  async dispose(): Promise<void> {
    releaseCache(this.cache);
  }
}
