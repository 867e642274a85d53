import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { buildModel } from '../../workers/model/build-model.ts';
import { probeWebGpu } from '../../workers/runtime/webgpu-adapter.ts';
import { greedyQuestion } from '../support/greedy-question.ts';

const adapter = await probeWebGpu();
if (!adapter.available) console.warn(`SKIPPED: no WebGPU adapter: ${adapter.error}`);

const question = (requestId: string, text: string) => greedyQuestion(requestId, text, 6);

// What the worker serves with after its warm-up: the scheduler's device pool, whose slot 0 and free rows the warm-up
// wrote into. Two answers decoded together (the second joining while the first decodes) must be the CPU's answers.
describe.skipIf(!adapter.available)('answers on webgpu after the warm-up', () => {
  let cpu: ZiyaChatModel;
  let gpu: ZiyaChatModel;

  beforeAll(async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'zvb-webgpu-warm-')), 'tiny');
    buildModel({ out: directory, preset: 'tiny', seed: 0, dtype: 'fp32', padding: 'right' });
    cpu = await ZiyaChatModel.load(directory, { executionProvider: 'cpu', threads: 1, batchSize: 2 });
    gpu = await ZiyaChatModel.load(directory, { executionProvider: 'webgpu', batchSize: 2 });
  });
  afterAll(async () => {
    await Promise.all([cpu?.close(), gpu?.close()]);
  });

  it('gives the CPU EP greedy answers, two at a time, after warmUp()', async () => {
    const warmUpMs = await gpu.warmUp();
    expect(gpu.scheduler.pool.staticShapes).toBe(true);
    const requests = [question('warm-1', 'Hello there'), question('warm-2', 'What is a tiny model?')];
    const expected = await Promise.all(requests.map((request) => cpu.answer(request)));
    const started = performance.now();
    const actual = await Promise.all(requests.map((request) => gpu.answer(request)));
    const answerMs = performance.now() - started;
    for (const [index, answer] of actual.entries()) {
      expect(answer.tokenIds).toEqual(expected[index]!.tokenIds);
      expect(answer.tokenIds.length).toBeGreaterThan(0);
    }
    console.info(
      `webgpu warm-up ${(warmUpMs / 1000).toFixed(1)} s (tiny, 2 slots × 2048 positions, llvmpipe), then two answers in ${(answerMs / 1000).toFixed(1)} s`,
    );
  });
});
