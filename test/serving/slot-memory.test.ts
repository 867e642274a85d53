import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.ts';
import { presets } from '../../workers/model/config.ts';
import type { ModelManifest } from '../../workers/model/manifest.ts';
import { checkSlotMemory, slotMemory } from '../../workers/serving/slot-memory.ts';

const gib = 1024 ** 3;
const ziya = {
  manifest: { text: presets['ziya-14b'].text } as unknown as ModelManifest,
  cacheType: 'float16' as const,
};

describe('slot memory', () => {
  it('counts a full-context slot of the 13B decoder: 40 layers × keys and values × 40 heads × 2048 × 128 × fp16', () => {
    const { bytesPerSlot, totalBytes } = slotMemory(ziya, 8);
    expect(bytesPerSlot).toBe(2 * 40 * 40 * 2048 * 128 * 2);
    expect(bytesPerSlot / gib).toBeCloseTo(1.5625, 4);
    expect(totalBytes).toBe(8 * bytesPerSlot);
    expect(slotMemory({ ...ziya, cacheType: 'float32' }, 1).bytesPerSlot).toBe(2 * bytesPerSlot);
  });

  it('refuses a CPU batch size whose pool does not fit, naming the variable and how many slots do', () => {
    expect(() => checkSlotMemory(ziya, 4, 'cpu', 8 * gib)).not.toThrow();
    let error: unknown;
    try {
      checkSlotMemory(ziya, 16, 'cpu', 8 * gib);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('WORKER_BATCH_SIZE');
    expect((error as Error).message).toMatch(/needs 25\.0 GiB .*only 8\.0 GiB .*at most 5 fit/);
    // Device memory is the execution provider's to refuse.
    expect(() => checkSlotMemory(ziya, 16, 'webgpu', 8 * gib)).not.toThrow();
  });
});
