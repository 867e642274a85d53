import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateRedisServer, startPrivateRedisServer } from '../../src/redis/private-redis-server.ts';
import { buildModel } from '../../workers/model/build-model.ts';
import { probeWebGpu } from '../../workers/runtime/webgpu-adapter.ts';
import { CliProcess } from '../support/cli-process.ts';
import { randomPrefix } from '../support/redis.ts';

const adapter = await probeWebGpu();
if (!adapter.available) console.warn(`SKIPPED: no WebGPU adapter: ${adapter.error}`);

// A real `worker` process on webgpu: it logs the adapter, and /readyz turns 200 only after the warm-up (prefill and
// a decode step at the slot pool's static shape) has compiled the shaders.
describe.skipIf(!adapter.available)('a worker on EXECUTION_PROVIDER=webgpu', () => {
  let redis: PrivateRedisServer;
  let worker: CliProcess;

  beforeAll(async () => {
    const directory = join(mkdtempSync(join(tmpdir(), 'zvb-webgpu-worker-')), 'tiny');
    buildModel({ out: directory, preset: 'tiny', seed: 0, dtype: 'fp32', padding: 'right' });
    redis = await startPrivateRedisServer();
    worker = new CliProcess(['worker'], {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: randomPrefix(),
      MODEL_DIR: directory,
      EXECUTION_PROVIDER: 'webgpu',
      WORKER_BATCH_SIZE: '2',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
  });
  afterAll(async () => {
    worker?.kill();
    await worker?.exited;
    await redis?.stop();
  });

  it('logs the adapter, and is not ready until the warm-up has run', async () => {
    const found = await worker.waitForLog((line) => String(line['msg']).startsWith('WebGPU adapter found'));
    expect(found['vulkanDrivers']).toEqual(adapter.vulkanDrivers);
    const listening = await worker.waitForLog((line) => String(line['msg']).includes('/readyz listening'));
    const url = String(listening['url']);
    // A step blocks the event loop (session.run is synchronous), so during shader compilation /readyz may not answer
    // at all: a timeout counts as not ready, like a 503.
    const answers: Array<number | 'timeout'> = [];
    let readyAt = 0;
    const deadline = Date.now() + 280_000;
    while (readyAt === 0) {
      if (Date.now() > deadline) throw new Error(`not ready in time:\n${worker.text()}`);
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      answers.push(response?.status ?? 'timeout');
      if (response?.status === 200) {
        readyAt = Date.now();
        expect(await response.json()).toEqual({ ready: true, checks: { redis: true, model: true } });
      } else if (response !== undefined) {
        expect(response.status).toBe(503);
        expect(((await response.json()) as { checks: { model: boolean } }).checks.model).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // The warm-up (seconds of shader compilation on llvmpipe) had finished before the first 200 came back.
    const warmUp = await worker.waitForLog((line) => String(line['msg']).startsWith('warm-up done'), 5000);
    expect(Number(warmUp['time'])).toBeLessThanOrEqual(readyAt);
    expect(Number(warmUp['warmUpMs'])).toBeGreaterThan(0);
    expect(answers.at(0)).not.toBe(200);
    console.info(
      `worker warm-up on llvmpipe: ${warmUp['warmUpMs']} ms; /readyz was not ready for ${answers.length - 1} probes first (${answers.filter((answer) => answer === 'timeout').length} timed out)`,
    );
  });
});
