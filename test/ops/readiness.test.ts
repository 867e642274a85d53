import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type PrivateRedisServer, startPrivateRedisServer } from '../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';
import { randomPrefix } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

async function readiness(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// A private redis-server that the test stops and starts again on the same port: /readyz must follow it, in the web
// adapter and in a real `worker` process (its own small ops server on METRICS_PORT), while /healthz stays 200.
describe('readiness follows Redis', () => {
  let redis: PrivateRedisServer;
  let pipeline: PipelineContext;
  let web: WebAdapter;
  let worker: CliProcess;
  let workerUrl = '';

  beforeAll(async () => {
    redis = await startPrivateRedisServer();
    const prefix = randomPrefix();
    pipeline = testPipeline(createRedisConnection(redis.url), prefix);
    web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
    worker = new CliProcess(['worker'], {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: prefix,
      MODEL_DIR: inject('tinyModelDir'),
      MODEL_THREADS: '1',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    });
    const listening = await worker.waitForLog((line) => String(line['msg']).includes('/readyz listening'));
    workerUrl = String(listening['url']);
  });
  afterAll(async () => {
    worker?.kill();
    await web?.close();
    await pipeline?.queues.close();
    pipeline?.redis.disconnect();
    await redis?.stop();
  });

  it('is ready with Redis and the model, not ready while Redis is away, ready again when it is back', async () => {
    await eventually(async () => (await readiness(workerUrl)).status === 200, 60_000, 'the worker to be ready');
    expect((await readiness(workerUrl)).body).toEqual({ ready: true, checks: { redis: true, model: true } });
    expect((await readiness(web.url)).body).toEqual({ ready: true, checks: { redis: true, platform: true } });
    const slots = await (await fetch(`${workerUrl}/metrics`)).text();
    // One slot per sequence the decode scheduler batches: WORKER_BATCH_SIZE, 8 by default.
    expect(slots).toMatch(/^zvb_worker_slots 8$/m);

    await redis.down('clean');
    await eventually(async () => (await readiness(web.url)).status === 503, 10_000, 'the web adapter to be unready');
    await eventually(async () => (await readiness(workerUrl)).status === 503, 10_000, 'the worker to be unready');
    expect((await readiness(web.url)).body).toEqual({ ready: false, checks: { redis: false, platform: true } });
    expect((await readiness(workerUrl)).body).toEqual({ ready: false, checks: { redis: false, model: true } });
    // Liveness does not depend on Redis (an outage must not restart every pod), and a scrape does not hang.
    expect((await fetch(`${workerUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
    const scrape = await fetch(`${workerUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
    expect(scrape.status).toBe(200);

    await redis.up();
    await eventually(async () => (await readiness(web.url)).status === 200, 20_000, 'the web adapter to be ready');
    await eventually(async () => (await readiness(workerUrl)).status === 200, 20_000, 'the worker to be ready again');

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});
