import { describe, expect, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import { decodeStepTransfer } from '../../workers/runtime/copy-volume.ts';

const ziya = presets['ziya-14b'].text;
const step = { text: ziya, cacheElementBytes: 2, batch: 1, positions: 1000 } as const;

describe('decodeStepTransfer', () => {
  it('counts the cache both ways on cuda: 0.82 MB per position per sequence for the real model in fp16', () => {
    const cuda = decodeStepTransfer({ ...step, provider: 'cuda' });
    const perPosition = 2 * 40 * 40 * 128 * 2;
    expect(perPosition).toBe(819_200);
    expect(cuda.cacheBytes).toBe(perPosition * 1000 + perPosition * 1001);
    expect(cuda.hostToDevice).toBe(5120 * 4 + 1001 * 8 + 8 + perPosition * 1000);
    expect(cuda.deviceToHost).toBe(39424 * 4 + perPosition * 1001);
  });

  it('moves a shared buffer of the whole capacity each way on cuda, and grows with the batch', () => {
    const shared = decodeStepTransfer({ ...step, provider: 'cuda', capacity: 2048, batch: 8 });
    expect(shared.cacheBytes).toBe(2 * 8 * 819_200 * 2048);
  });

  it('moves no cache bytes on webgpu, only the embedding, mask and last-position logits', () => {
    const webgpu = decodeStepTransfer({ ...step, provider: 'webgpu', capacity: 2048, batch: 8 });
    expect(webgpu.cacheBytes).toBe(0);
    expect(webgpu.hostToDevice).toBe(8 * 5120 * 4 + 8 * 2048 * 8 + 8);
    expect(webgpu.deviceToHost).toBe(8 * 39424 * 4);
  });

  it('copies nothing on cpu', () => {
    expect(decodeStepTransfer({ ...step, provider: 'cpu' })).toEqual({
      hostToDevice: 0,
      deviceToHost: 0,
      cacheBytes: 0,
    });
  });
});
