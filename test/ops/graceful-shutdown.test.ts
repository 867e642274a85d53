import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Progress } from '../../src/contracts/channel-entry.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { CliProcess, eventually } from '../support/cli-process.ts';
import { useTestRedis } from '../support/redis.ts';
import { ReplyCollector, testPipeline } from '../support/test-pipeline.ts';

// Real `ziya-visual-bot worker` processes (real tiny model: 1500 tokens take a few seconds on one thread) get SIGTERM
// in the middle of a generation. Each reply must be delivered exactly once, whichever worker ends up answering it.
describe('SIGTERM during a generation', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  const collector = new ReplyCollector();
  const progress: Progress[] = [];
  let listener: ProgressListener;
  let delivery: Worker;
  const processes: CliProcess[] = [];

  function startWorker(environment: Record<string, string>): CliProcess {
    const worker = new CliProcess(['worker'], {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      MODEL_DIR: inject('tinyModelDir'),
      MODEL_THREADS: '1',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...environment,
    });
    processes.push(worker);
    return worker;
  }

  async function send(channel: string, id: string): Promise<string> {
    const result = await receiveMessage(pipeline, {
      platform: 'web',
      platformMessageId: id,
      channelKey: `web:${channel}`,
      replyTarget: { channel },
      user: { id: 'u', name: 'U' },
      text: `Please describe the weather in detail (${id}).`,
      attachments: [],
      adapterInstance: 'shutdown-test',
    });
    return result.requestId;
  }

  const workerOf = (worker: CliProcess) => `worker-${worker.child.pid}`;
  const generatedBy = (requestId: string) =>
    new Set(progress.filter((event) => event.requestId === requestId).map((event) => event.worker));
  const repliesTo = (requestId: string) => collector.replies.filter((reply) => reply.requestId === requestId);

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    delivery = startDeliveryWorker(pipeline, 'web', collector.deliver);
    listener = await startProgressListener(createRedisConnection(redis.url), redis.prefix, 'shutdown-test', (event) =>
      progress.push(event),
    );
  });
  afterAll(async () => {
    for (const worker of processes) worker.kill();
    await delivery?.close();
    await listener?.close();
    await pipeline?.queues.close();
  });

  it('finishes the active generation within the grace period, hands the rest of the line on, exits 0', async () => {
    const first = startWorker({ MAX_NEW_TOKENS: '1500', SHUTDOWN_GRACE_MS: '60000' });
    const answering = await send('long', 'long-0');
    const waiting = await send('long', 'long-1');
    await eventually(async () => generatedBy(answering).has(workerOf(first)), 60_000, 'the first generation');
    first.child.kill('SIGTERM');
    const exitCode = await first.exited;
    expect(exitCode, first.text()).toBe(0);
    // The generation under way was finished by the stopping worker (all 1500 tokens), the next one was not started.
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === answering), 10_000);
    expect(repliesTo(answering)).toHaveLength(1);
    expect(repliesTo(answering)[0]?.finishReason).toBe('length');
    expect(generatedBy(answering)).toEqual(new Set([workerOf(first)]));
    expect(generatedBy(waiting).size).toBe(0);

    const second = startWorker({ MAX_NEW_TOKENS: '16' });
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === waiting), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a duplicate would have arrived by now
    expect(collector.replies.map((reply) => reply.requestId)).toEqual([answering, waiting]);
    expect(generatedBy(waiting)).toEqual(new Set([workerOf(second)]));
    // Saved once each (the 1500-token answer may already be trimmed away by the context's token budget).
    const turns = (await pipeline.contexts.load('web:long')).map((turn) => turn.requestId);
    expect(turns.slice(-2)).toEqual([waiting, waiting]);
    expect(turns.filter((id) => id === answering).length).toBeLessThanOrEqual(2);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);

  it('hands an unfinished generation back to the queue when the grace period ends; another worker answers it once', async () => {
    const first = startWorker({ MAX_NEW_TOKENS: '1500', SHUTDOWN_GRACE_MS: '300' });
    const requestId = await send('short', 'short-0');
    await eventually(async () => generatedBy(requestId).has(workerOf(first)), 60_000, 'the generation to start');
    const signalled = Date.now();
    first.child.kill('SIGTERM');
    expect(await first.exited, first.text()).toBe(0);
    const stoppedAfterMs = Date.now() - signalled;
    expect(first.text()).toContain('shutdown grace period over');
    expect(repliesTo(requestId)).toHaveLength(0); // aborted, not answered with a partial text

    const second = startWorker({ MAX_NEW_TOKENS: '16' });
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === requestId), 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(repliesTo(requestId)).toHaveLength(1);
    expect(repliesTo(requestId)[0]?.error).toBeUndefined();
    expect(generatedBy(requestId)).toEqual(new Set([workerOf(first), workerOf(second)]));
    const turns = await pipeline.contexts.load('web:short');
    expect(turns.map((turn) => turn.requestId)).toEqual([requestId, requestId]);
    console.log(`stopping worker exited ${stoppedAfterMs} ms after SIGTERM (grace 300 ms)`);
    expect(stoppedAfterMs).toBeLessThan(4000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 180_000);
});
