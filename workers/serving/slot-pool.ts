import type { DecoderModel, KeyValueTensors } from '../runtime/decoder-model.ts';
import { type Tensor, tensor } from '../runtime/onnx-session.ts';
import {
  type HostCache,
  type HostCaches,
  hostCaches,
  type NewPosition,
  storeNewPositions,
} from '../runtime/store-new-positions.ts';

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
   * True when a step's presents are written into the pool's own tensors (pre-allocated outputs): steps pass the cache
   * as `presentInto`. False: a step's presents come back as new tensors, which
   * {@link SlotPool.adopt} takes as the cache.
   */
  readonly inPlace: boolean;
  /**
   * True when a step must always run all `size` rows with a mask as wide as `capacity` (static shapes, so that a GPU
   * compiles its kernels once). False: a step may run the first `rows` slots only, with a mask just wide enough.
   */
  readonly staticShapes: boolean;
  /**
   * Makes the next run's tensors at least `positions` wide while keeping every slot's cached positions (pools whose
   * runs cost in proportion to the width they are given: see {@link HostSlotPool}). `lengths`: the positions each
   * slot holds, the only ones a new layout must move (absent: all it can hold). Static pools need not have it.
   */
  fit?(positions: number, lengths?: readonly number[]): void;
  /** The cache of slots `[0, rows)`, per layer `[rows, kvHeads, width, headSize]` (width: `capacity`, or as fitted). */
  rows(rows: number): KeyValueTensors;
  /** Takes a step's presents as the new cache (pools that are not {@link SlotPool.inPlace}). */
  adopt(present: KeyValueTensors): void;
  /**
   * Stores a decode step's new positions (`DecoderStep.decodeStep`: `added` is `[rows, kvHeads, 1, headSize]` per
   * layer) at `position` of the slot of each listed batch row. Pools without it take presents instead.
   */
  append?(rows: readonly NewPosition[], added: KeyValueTensors): void;
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

/** Positions a host pool's width grows or shrinks by. */
const widthStep = 128;

/**
 * A slot pool in host memory (the CPU execution provider): one typed array per layer and kind, preallocated for the
 * full context of every slot. Views of the first rows or of one slot share that memory, so a step over part of the
 * pool and a prefill written straight into its slot cost no copy.
 *
 * A decoder built for decode steps reads the pool as its past where it lies and returns only each row's new position,
 * which {@link HostSlotPool.append} stores. Older builds write their presents into the pool (pre-allocated outputs);
 * onnxruntime-node 1.30 then also copies every output into a new JS buffer, so each such step copies the cache it
 * was given (on a fresh allocation: see `host-allocator.ts`). Measured on the `small` model at 8 rows of 512
 * positions: 122 ms a step that way, 29 ms as a decode step.
 *
 * Either way a step reads every position of the tensors it is given, so they are only as wide as the longest
 * sequence needs (a multiple of 128 positions), not the whole context. When a sequence needs more,
 * {@link HostSlotPool.fit} lays the slots out again at the wider stride (in place, within the preallocated memory);
 * when the longest ones have left and half the width would do, at a narrower one.
 */
export class HostSlotPool implements SlotPool {
  readonly inPlace = true;
  readonly staticShapes = false;
  readonly bytesPerSlot: number;
  private readonly buffers: HostCaches;
  private readonly views = new Map<string, KeyValueTensors>();
  private readonly kvHeads: number;
  private readonly headSize: number;
  /** Positions per slot in the current layout. */
  private width: number;

  constructor(
    model: DecoderModel,
    readonly size: number,
    readonly capacity: number = model.manifest.text.maxPositions,
  ) {
    this.bytesPerSlot = slotBytes(model, capacity);
    this.buffers = hostCaches(model.allocateCache(size, capacity));
    // Commit the memory now: zeroed arrays come as untouched pages, which would fault in on the first step that
    // reaches them (a long prompt's first steps took 0.7 s instead of 40 ms) and could fail mid-answer, not here.
    for (const buffer of [...this.buffers.keys, ...this.buffers.values]) buffer.fill(0);
    const { numKvHeads, hiddenSize, numHeads } = model.manifest.text;
    this.kvHeads = numKvHeads;
    this.headSize = hiddenSize / numHeads;
    this.width = Math.min(capacity, widthStep);
  }

  fit(positions: number, lengths?: readonly number[]): void {
    const width = Math.min(this.capacity, Math.max(widthStep, Math.ceil(positions / widthStep) * widthStep));
    // Shrink only to half or less: every new layout moves the cached positions of the whole pool, so it must not
    // follow each sequence that leaves or joins.
    if (width === this.width || (width < this.width && width > this.width / 2)) return;
    // Each (slot, head) block moves to its place at the new stride, with its slot's cached positions (all it can hold
    // when the lengths are not given). Growing moves blocks to higher offsets, so the last goes first; shrinking the
    // other way round (the caller asks for at least the longest slot's length).
    const most = Math.min(width, this.width);
    const { headSize, kvHeads } = this;
    for (const buffer of [...this.buffers.keys, ...this.buffers.values]) {
      const move = (slot: number, head: number) => {
        const block = slot * kvHeads + head;
        const kept = Math.min(most, lengths?.[slot] ?? most) * headSize;
        if (kept > 0) {
          buffer.copyWithin(
            block * width * headSize,
            block * this.width * headSize,
            block * this.width * headSize + kept,
          );
        }
      };
      if (width > this.width) {
        for (let slot = this.size - 1; slot >= 0; slot--)
          for (let head = kvHeads - 1; head >= 0; head--) move(slot, head);
      } else {
        for (let slot = 0; slot < this.size; slot++) for (let head = 0; head < kvHeads; head++) move(slot, head);
      }
    }
    this.width = width;
    this.views.clear();
  }

  rows(rows: number): KeyValueTensors {
    return this.view(0, rows);
  }

  adopt(): void {
    // In place: the decoder already wrote into the pool.
  }

  slot(slot: number): KeyValueTensors {
    return this.view(slot, 1);
  }

  append(rows: readonly NewPosition[], added: KeyValueTensors): void {
    storeNewPositions(this.buffers, this.width, rows, added);
  }

  async write(slot: number, prefill: KeyValueTensors, length: number): Promise<void> {
    const { kvHeads, headSize } = this;
    // Only ever wider here: the other slots' positions are the caller's to keep (it fits the pool first).
    if (length > this.width) this.fit(length);
    const copy = (targetData: HostCache, source: Tensor) => {
      const sourceData = source.data as HostCache;
      const sourceWidth = source.dims[2]!;
      for (let head = 0; head < kvHeads; head++) {
        const from = head * sourceWidth * headSize;
        targetData.set(
          sourceData.subarray(from, from + length * headSize),
          (slot * kvHeads + head) * this.width * headSize,
        );
      }
    };
    for (let layer = 0; layer < prefill.keys.length; layer++) {
      copy(this.buffers.keys[layer]!, prefill.keys[layer]!);
      copy(this.buffers.values[layer]!, prefill.values[layer]!);
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
    const perSlot = this.kvHeads * this.width * this.headSize;
    const dims = [count, this.kvHeads, this.width, this.headSize];
    const over = (data: HostCache) => {
      const part = data.subarray(first * perSlot, (first + count) * perSlot);
      return part instanceof Uint16Array ? tensor('float16', part, dims) : tensor('float32', part, dims);
    };
    const view = { keys: this.buffers.keys.map(over), values: this.buffers.values.map(over) };
    this.views.set(key, view);
    return view;
  }
}
