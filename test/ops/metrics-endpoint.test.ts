import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { useTestRedis } from '../support/redis.ts';
import { SseClient } from '../support/sse-client.ts';
import { solidPng } from '../support/test-images.ts';
import { testPipeline } from '../support/test-pipeline.ts';

/** The value of one sample line (`name{labels} value`) of a Prometheus text exposition, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const present = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]),
    );
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

const bearer = (token: string) => `Bearer ${token}`;

// One real request through the web adapter and a model worker (real Redis, real BullMQ, real tiny model); then
// `/metrics` must show every named series with the values that request produced, behind its token.
describe('/metrics, /readyz and Bull Board on the web adapter', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let model: ZiyaChatModel;
  let worker: Worker;
  let web: WebAdapter;
  let open: WebAdapter;
  const metricsToken = 'metrics-secret-1';
  const adminToken = 'admin-secret-1';

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix, { MAX_NEW_TOKENS: 12, IMAGE_MAX_BYTES: 256 * 1024 });
    model = await ZiyaChatModel.load(inject('tinyModelDir'), {
      executionProvider: 'cpu',
      threads: 1,
      embeddingCache: pipeline.embeddings,
    });
    worker = startModelWorker(pipeline, model, { concurrency: 1 });
    web = await startWebAdapter(pipeline, {
      port: 0,
      eventsConnection: createRedisConnection(redis.url),
      metricsToken,
      adminToken,
    });
    open = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
  });
  afterAll(async () => {
    await open?.close();
    await web?.close();
    await worker?.close();
    await model?.close();
    await pipeline?.queues.close();
  });

  it('exposes queue depth, waits, latency, first token, tokens/s, images, duplicates and worker slots', async () => {
    const stream = new SseClient(`${web.url}/api/channels/ops/events`);
    await stream.ready();
    const image = (await solidPng(10, 200, 10)).toString('base64');
    const body = JSON.stringify({ text: 'What is in this picture?', image, clientMessageId: 'm1' });
    const post = () =>
      fetch(`${web.url}/api/channels/ops/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    expect((await post()).status).toBe(202);
    expect((await post()).status).toBe(200); // the same clientMessageId again: dropped as a duplicate
    const reply = await stream.reply('web-ops.m1');
    expect(reply['error']).toBeUndefined();
    stream.close();

    expect((await fetch(`${web.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${web.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const response = await fetch(`${web.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();

    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed']) {
      expect(sample(text, 'zvb_queue_jobs', { queue: 'requests', state }), state).toBeGreaterThanOrEqual(0);
    }
    expect(sample(text, 'zvb_queue_jobs', { queue: 'ingest-web', state: 'waiting' })).toBe(0);
    expect(sample(text, 'zvb_queue_jobs', { queue: 'replies-web', state: 'active' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'zvb_request_wait_seconds_count', { platform: 'web' })).toBe(1);
    expect(sample(text, 'zvb_generation_seconds_count', { finish_reason: 'length' })).toBe(1);
    expect(sample(text, 'zvb_generation_seconds_sum', { finish_reason: 'length' })).toBeGreaterThan(0);
    expect(sample(text, 'zvb_time_to_first_token_seconds_count')).toBe(1);
    expect(sample(text, 'zvb_generation_tokens_per_second_count')).toBe(1);
    expect(sample(text, 'zvb_generated_tokens_total')).toBe(12);
    expect(sample(text, 'zvb_images_processed_total', { platform: 'web', result: 'stored' })).toBe(1);
    expect(sample(text, 'zvb_duplicates_dropped_total', { platform: 'web' })).toBe(1);
    expect(sample(text, 'zvb_replies_delivered_total', { platform: 'web', outcome: 'answer' })).toBe(1);
    expect(sample(text, 'zvb_worker_slots')).toBe(1);
    expect(sample(text, 'zvb_worker_busy')).toBe(0);
    // Counters the platform adapters increment: declared (HELP/TYPE) even before the first increment.
    expect(text).toContain('# TYPE zvb_platform_errors_total counter');
    expect(text).toContain('# TYPE zvb_platform_rate_limited_total counter');
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('answers /healthz and /readyz, and mounts Bull Board only behind ADMIN_TOKEN', async () => {
    expect(await (await fetch(`${web.url}/healthz`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${web.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { redis: true, platform: true } });

    expect((await fetch(`${web.url}/admin/queues`)).status).toBe(401);
    expect((await fetch(`${web.url}/admin/queues`, { headers: { authorization: bearer('nope') } })).status).toBe(401);
    const page = await fetch(`${web.url}/admin/queues`, { headers: { authorization: bearer(adminToken) } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const api = await fetch(`${web.url}/admin/queues/api/queues`, { headers: { authorization: bearer(adminToken) } });
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: Array<{ name: string }> }).queues.map((queue) => queue.name);
    expect(names).toEqual(expect.arrayContaining(['requests', 'ingest-web', 'replies-web', 'replies-discord']));

    // No ADMIN_TOKEN: no dashboard at all; no METRICS_TOKEN: /metrics is open.
    expect((await fetch(`${open.url}/admin/queues`)).status).toBe(404);
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200);
  });
});
