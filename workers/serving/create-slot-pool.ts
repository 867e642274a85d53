import type { LanguageModel } from '../runtime/language-model.ts';
import { DeviceSlotPool } from './device-slot-pool.ts';
import { HostSlotPool, type SlotPool } from './slot-pool.ts';

/** The slot pool a model's execution provider needs: device memory on `webgpu`, host memory otherwise. */
export async function createSlotPool(model: LanguageModel, size: number): Promise<SlotPool> {
  return model.device ? DeviceSlotPool.create(model, size) : new HostSlotPool(model, size);
}
