import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Progress } from '../../src/contracts/channel-entry.ts';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { closeAll, receiveWebText, testPipeline, waitUntil } from '../support/test-pipeline.ts';

// A channel's answers must appear in order even when a reply waits in `replies-<platform>` (a slow or failing post)
// while the next request is already streaming: the next one neither streams nor is posted before it.
describe('reply order across the replies queue', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let listener: ProgressListener;
  const workers: Worker[] = [];
  const progress: Array<{ at: number; progress: Progress }> = [];
  const delivered: Array<{ at: number; reply: ChatReply }> = [];
  /** Per request id: how to deliver it (hold it, fail it); default: at once. */
  const behaviour = new Map<string, (reply: ChatReply) => Promise<void>>();

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix, { PROGRESS_INTERVAL_MS: 50 });
    // Questions starting with "long" stream 60 words, 40 ms apart (2.4 s); the others answer one word.
    const model = new FakeChatModel({ stepMs: 40, words: (question) => (question.startsWith('long') ? 60 : 1) });
    workers.push(
      startModelWorker(pipeline, model, { concurrency: 2 }),
      startDeliveryWorker(
        pipeline,
        'web',
        async (reply) => {
          await behaviour.get(reply.requestId)?.(reply);
          delivered.push({ at: performance.now(), reply });
        },
        { orderWaitMs: 3000 },
      ),
    );
    listener = await startProgressListener(createRedisConnection(redis.url), redis.prefix, 'order-test', (event) =>
      progress.push({ at: performance.now(), progress: event }),
    );
  });
  afterAll(async () => {
    await listener.close();
    await closeAll(workers);
    await pipeline.queues.close();
  });

  const send = (channel: string, messageId: string, text: string) =>
    receiveWebText(pipeline, channel, messageId, text, 'order-test');

  it('holds the next answer (stream and reply) until the previous reply is posted', async () => {
    const first = 'web-held.q1';
    const second = 'web-held.q2';
    // The first reply's post takes 0.3 s and fails once (retried by BullMQ 1 s later): ~1.4 s in the replies queue,
    // while the second answer streams for 2.4 s.
    let tries = 0;
    behaviour.set(first, async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      tries += 1;
      if (tries === 1) throw new Error('503 from the platform');
    });
    await send('held', 'q1', 'short question');
    await send('held', 'q2', 'long question streams');
    await waitUntil(() => delivered.some((entry) => entry.reply.requestId === second), 20_000);

    const firstPosted = delivered.find((entry) => entry.reply.requestId === first);
    const secondPosted = delivered.find((entry) => entry.reply.requestId === second);
    const secondStream = progress.filter((entry) => entry.progress.requestId === second);
    expect(tries).toBe(2);
    expect(firstPosted).toBeDefined();
    expect(secondPosted?.reply.after).toBe(first);
    expect(firstPosted?.reply.after).toBeUndefined();
    // It still streamed, but only once the first reply was on the platform.
    expect(secondStream.length).toBeGreaterThan(0);
    for (const entry of secondStream) expect(entry.at).toBeGreaterThan(firstPosted?.at ?? Number.POSITIVE_INFINITY);
    expect(delivered.map((entry) => entry.reply.requestId).filter((id) => id.startsWith('web-held'))).toEqual([
      first,
      second,
    ]);
  });

  it('parks a reply behind the previous one and wakes it when that one is posted (no polling)', async () => {
    const first = 'web-parked.q1';
    const second = 'web-parked.q2';
    behaviour.set(first, () => new Promise((resolve) => setTimeout(resolve, 1500)));
    await send('parked', 'q1', 'short question');
    await send('parked', 'q2', 'short again');
    await waitUntil(() => delivered.some((entry) => entry.reply.requestId === second), 20_000);
    const job = await pipeline.queues.repliesQueue('web').getJob(`reply-${second}`);
    // Taken once and parked, then taken again when woken; only the delivery counts as an attempt...
    expect(job?.attemptsStarted).toBe(2);
    expect(job?.attemptsMade).toBe(1);
    // ...by the first one's delivery, well before its 30 s recheck would have found it.
    const at = (id: string) => delivered.find((entry) => entry.reply.requestId === id)?.at ?? Number.NaN;
    expect(at(second) - at(first)).toBeLessThan(1000);
    expect(await redis.connection.exists(`${redis.prefix}:reply-waiter:${first}`)).toBe(0);
  });

  it('posts the next reply anyway once the previous one has waited past orderWaitMs (nothing is lost)', async () => {
    const first = 'web-stuck.q1';
    const second = 'web-stuck.q2';
    behaviour.set(first, async () => {
      throw new Error('the platform keeps failing');
    });
    await send('stuck', 'q1', 'short question');
    await send('stuck', 'q2', 'short again');
    await waitUntil(() => delivered.some((entry) => entry.reply.requestId === second), 20_000);
    expect(delivered.some((entry) => entry.reply.requestId === first)).toBe(false);
    // Held while the first was retrying, not dropped: it went out after the 3 s bound.
    const job = await pipeline.queues.repliesQueue('web').getJob(`reply-${second}`);
    expect((job?.finishedOn ?? 0) - (job?.timestamp ?? 0)).toBeGreaterThanOrEqual(3000);
  });
});
