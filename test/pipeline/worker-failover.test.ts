import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Progress } from '../../src/contracts/channel-entry.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import { startIngestWorker } from '../../src/pipeline/ingest-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { useTestRedis } from '../support/redis.ts';
import { ReplyCollector, testPipeline } from '../support/test-pipeline.ts';

const repositoryRoot = resolve(import.meta.dirname, '../..');
const channels = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'];
const perChannel = 3;

// Two real `ziya-visual-bot worker` processes (real tiny model) share the queue; one is SIGKILLed mid-generation.
describe('model workers in separate processes', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  const collector = new ReplyCollector();
  const progress: Progress[] = [];
  let listener: ProgressListener;
  const workers: Worker[] = [];
  const children = new Map<number, ChildProcess>();

  function spawnWorker(): ChildProcess {
    const child = spawn(process.execPath, ['bin/ziya-visual-bot.js', 'worker'], {
      cwd: repositoryRoot,
      env: {
        ...process.env,
        REDIS_URL: redis.url,
        QUEUE_PREFIX: redis.prefix,
        MODEL_DIR: inject('tinyModelDir'),
        EXECUTION_PROVIDER: 'cpu',
        MODEL_THREADS: '1',
        WORKER_BATCH_SIZE: '2',
        JOB_LOCK_MS: '2000',
        MAX_NEW_TOKENS: '32',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (child.pid !== undefined) children.set(child.pid, child);
    return child;
  }

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    workers.push(startIngestWorker(pipeline, 'web', {}), startDeliveryWorker(pipeline, 'web', collector.deliver));
    listener = await startProgressListener(createRedisConnection(redis.url), redis.prefix, 'failover-test', (event) =>
      progress.push(event),
    );
  });
  afterAll(async () => {
    for (const child of children.values()) child.kill('SIGKILL');
    await Promise.all(workers.map((worker) => worker.close()));
    await listener?.close();
    await pipeline?.queues.close();
  });

  it('keeps per-channel order, answers each request once, loses none when a worker is killed mid-generation', async () => {
    spawnWorker();
    spawnWorker();
    for (let index = 0; index < perChannel; index += 1) {
      for (const channel of channels) {
        await receiveMessage(pipeline, {
          platform: 'web',
          platformMessageId: `${channel}-${index}`,
          channelKey: `web:${channel}`,
          replyTarget: { channel },
          user: { id: 'u', name: 'U' },
          text: `Question number ${index} for channel ${channel}, please answer.`,
          attachments: [],
          adapterInstance: 'failover-test',
        });
      }
    }
    // Wait until some request is being generated, then SIGKILL the worker process generating it.
    const deadline = Date.now() + 60_000;
    while (progress.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const victim = progress[0];
    expect(victim?.worker).toMatch(/^worker-\d+$/);
    const victimPid = Number(victim?.worker?.slice('worker-'.length));
    const started = Date.now();
    const killedRequest = victim?.requestId ?? '';
    expect(children.has(victimPid)).toBe(true);
    children.get(victimPid)?.kill('SIGKILL');
    const deliveredBeforeKill = collector.replies.some((reply) => reply.requestId === killedRequest);

    await collector.waitFor((replies) => replies.length >= channels.length * perChannel, 120_000);
    console.log(`all answered ${Date.now() - started} ms after the kill`);
    await new Promise((r) => setTimeout(r, 1500)); // any duplicate would show up by now
    const ids = collector.replies.map((reply) => reply.requestId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(channels.length * perChannel);
    for (const channel of channels) {
      const order = ids.filter((id) => id.startsWith(`web-${channel}-`));
      expect(order).toEqual(Array.from({ length: perChannel }, (_, index) => `web-${channel}-${index}`));
      const turns = await pipeline.contexts.load(`web:${channel}`);
      expect(turns.map((turn) => turn.requestId)).toEqual(order.flatMap((id) => [id, id]));
    }
    // The request that was being generated when its worker died was answered, by the surviving worker.
    expect(deliveredBeforeKill).toBe(false);
    expect(ids).toContain(killedRequest);
    const answeredBy = progress.filter((event) => event.requestId === killedRequest).map((event) => event.worker);
    expect(new Set(answeredBy).size).toBeGreaterThanOrEqual(2);
    for (const reply of collector.replies) expect(reply.error).toBeUndefined();
  });
});
