import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatModel, ChatModelRequest, ChatModelResult } from '../../src/model/chat-model.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { closeAll, ReplyCollector, receiveWebText, testPipeline, waitUntil } from '../support/test-pipeline.ts';

/** A fake model that records the order it is asked in and holds its first answer until the test lets it go. */
class GatedModel implements ChatModel {
  readonly modelId = 'gated-model';
  readonly demo = true;
  readonly questions: string[] = [];
  private readonly inner = new FakeChatModel({ stepMs: 5, words: 2 });
  private release: () => void = () => {};
  private readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    this.questions.push(request.question);
    if (this.questions.length === 1) await this.gate;
    return await this.inner.answer(request);
  }

  open(): void {
    this.release();
  }

  async close(): Promise<void> {}
}

// Finding 6 of issue 18: one flooded channel must not monopolise a worker. With one worker slot and a drain turn of
// `turnMax` answers, a request of a quiet channel that joins while the flooded channel is being answered is answered
// before the flooded channel's (turnMax + 1)-th answer: it waits at most `turnMax` answers, not the whole line.
describe('fairness across channels', () => {
  const redis = useTestRedis();
  const turnMax = 2;
  const flood = 10;
  let pipeline: PipelineContext;
  const model = new GatedModel();
  const collector = new ReplyCollector();
  const workers: Worker[] = [];

  beforeAll(() => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    workers.push(
      startModelWorker(pipeline, model, { concurrency: 1, turnMax }),
      startDeliveryWorker(pipeline, 'web', collector.deliver),
    );
  });
  afterAll(async () => {
    await closeAll(workers);
    await pipeline.queues.close();
  });

  const send = (channel: string, messageId: string, text: string) => receiveWebText(pipeline, channel, messageId, text);

  it('answers the quiet channel after at most turnMax answers of the flooded one, and the flood in order', async () => {
    const floodIds: string[] = [];
    for (let index = 1; index <= flood; index += 1) {
      floodIds.push((await send('flood', `m${index}`, `a${index}`)).requestId);
    }
    // The flooded channel's first answer is under way (held), and its whole line is queued behind it.
    await waitUntil(() => model.questions.length === 1, 10_000);
    const quiet = await send('quiet', 'm1', 'b1');
    await waitUntil(async () => (await pipeline.queues.requests.getWaitingCount()) === 1, 10_000);
    model.open();
    await collector.waitFor((replies) => replies.length === flood + 1, 30_000);

    // The worker's answering order: two of the flood (the turn), then the quiet channel, then the rest of the flood.
    expect(model.questions).toEqual([
      'a1',
      'a2',
      'b1',
      ...Array.from({ length: flood - 2 }, (_, index) => `a${index + 3}`),
    ]);
    expect(model.questions.indexOf('b1')).toBeLessThanOrEqual(turnMax);
    // Exactly once, and the flooded channel's replies still chain in order across its turns.
    const ids = collector.replies.map((reply) => reply.requestId);
    expect(new Set(ids).size).toBe(flood + 1);
    const floodReplies = collector.replies.filter((reply) => reply.requestId !== quiet.requestId);
    expect(floodReplies.map((reply) => reply.requestId)).toEqual(floodIds);
    expect(floodReplies.map((reply) => reply.after)).toEqual([undefined, ...floodIds.slice(0, -1)]);
    expect(collector.replies.find((reply) => reply.requestId === quiet.requestId)?.after).toBeUndefined();
  });
});
