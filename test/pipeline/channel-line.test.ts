import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import { startIngestWorker } from '../../src/pipeline/ingest-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { closeAll, ReplyCollector, testPipeline } from '../support/test-pipeline.ts';

// Queue mechanics with a test double for the model (the end-to-end tests use the real tiny model).
describe('channel line (queue mechanics)', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let model: FakeChatModel;
  const collector = new ReplyCollector();
  const workers: Worker[] = [];

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    model = new FakeChatModel({ stepMs: 5, words: 3, embeddingCache: pipeline.embeddings });
    workers.push(
      startIngestWorker(pipeline, 'web', {}),
      startModelWorker(pipeline, model, { concurrency: 4 }),
      startDeliveryWorker(pipeline, 'web', collector.deliver),
    );
  });
  afterAll(async () => {
    await closeAll(workers);
    await pipeline.queues.close();
  });

  const send = (channel: string, messageId: string, text: string) =>
    receiveMessage(pipeline, {
      platform: 'web',
      platformMessageId: messageId,
      channelKey: `web:${channel}`,
      replyTarget: { channel },
      user: { id: 'u1', name: 'User' },
      text,
      attachments: [],
      adapterInstance: 'test-adapter',
    });

  it('answers each channel in arrival order, channels in parallel, each request once', async () => {
    const channels = ['a', 'b', 'c', 'd', 'e'];
    for (let index = 0; index < 6; index += 1) {
      for (const channel of channels) await send(channel, `${channel}${index}`, `question ${index} in ${channel}`);
    }
    await collector.waitFor((replies) => replies.length >= 30);
    for (const channel of channels) {
      const order = collector.replies
        .filter((reply) => reply.replyTarget['channel'] === channel)
        .map((r) => r.requestId);
      expect(order).toEqual([0, 1, 2, 3, 4, 5].map((index) => `web-${channel}${index}`));
    }
    const ids = collector.replies.map((reply) => reply.requestId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('drops a redelivered message and appends its turns once', async () => {
    const first = await send('dup', 'm1', 'hello there, how are you today?');
    const second = await send('dup', 'm1', 'hello there, how are you today?');
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === 'web-m1'));
    // The same request delivered to a worker again, once after its answer was recorded and once as if the worker
    // died between enqueueing the reply and recording it: still one reply, context appended once, and the model is
    // not asked again (the stored answer is sent).
    const request = {
      version: 1 as const,
      id: 'web-m1',
      platform: 'web' as const,
      channelKey: 'web:dup',
      replyTarget: { channel: 'dup' },
      user: { id: 'u1', name: 'User' },
      text: 'hello there, how are you today?',
      images: [],
      receivedAt: new Date().toISOString(),
      adapterInstance: 'test-adapter',
    };
    await pipeline.line.join('web:dup', 'web-m1');
    await pipeline.line.putEntry({ version: 1, request });
    await pipeline.queues.addDrain('web:dup');
    await send('dup', 'm2', 'and a second question please');
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === 'web-m2'));
    await redis.connection.del(pipeline.keys.answered('web-m1'));
    await pipeline.line.join('web:dup', 'web-m1');
    await pipeline.line.putEntry({ version: 1, request });
    await pipeline.queues.addDrain('web:dup');
    await send('dup', 'm3', 'and a third question please');
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === 'web-m3'));
    expect(model.requests.filter((asked) => asked.requestId === 'web-m1')).toHaveLength(1);
    expect(collector.replies.filter((reply) => reply.requestId === 'web-m1')).toHaveLength(1);
    const turns = await pipeline.contexts.load('web:dup');
    expect(turns.map((turn) => `${turn.requestId}/${turn.role}`)).toEqual([
      'web-m1/user',
      'web-m1/assistant',
      'web-m2/user',
      'web-m2/assistant',
      'web-m3/user',
      'web-m3/assistant',
    ]);
  });
});

/** The `request` job of a web message in `channel`, as an adapter makes it. */
function webRequest(channel: string, messageId: string, text: string) {
  return {
    version: 1 as const,
    id: `web-${messageId}`,
    platform: 'web' as const,
    channelKey: `web:${channel}`,
    replyTarget: { channel },
    user: { id: 'u1', name: 'User' },
    text,
    images: [],
    receivedAt: new Date().toISOString(),
    adapterInstance: 'test-adapter',
  };
}

/** A stored question-and-answer pair of a request, as a worker stores it. */
function storedTurns(requestId: string, question: string, answer: string) {
  const at = new Date().toISOString();
  return [
    { requestId, role: 'user' as const, text: question, language: 'zh-CN' as const, at },
    {
      requestId,
      role: 'assistant' as const,
      text: answer,
      language: 'zh-CN' as const,
      finishReason: 'length' as const,
      at,
    },
  ];
}

// Sampling makes a second generation of a request differ from the first: whatever attempt stored its turns first,
// the reply must say the same, or the channel's context holds an answer nobody was shown.
describe('an answer already stored for the request', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  const collector = new ReplyCollector();
  const workers: Worker[] = [];
  // A second attempt stores its turns while this one generates (the first attempt stalled, its lock expired).
  class RacedModel extends FakeChatModel {
    override async answer(request: Parameters<FakeChatModel['answer']>[0]) {
      if (request.requestId === 'web-raced') {
        await pipeline.contexts.append('web:race', 'web-raced', storedTurns('web-raced', '问题', '另一次尝试的回答'));
      }
      return await super.answer(request);
    }
  }
  const model = new RacedModel({ stepMs: 5, words: 3 });

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix);
    workers.push(startModelWorker(pipeline, model), startDeliveryWorker(pipeline, 'web', collector.deliver));
  });
  afterAll(async () => {
    await closeAll(workers);
    await pipeline.queues.close();
  });

  async function enqueue(channel: string, messageId: string, text: string): Promise<void> {
    const request = webRequest(channel, messageId, text);
    await pipeline.line.join(request.channelKey, request.id);
    await pipeline.line.putEntry({ version: 1, request });
    await pipeline.queues.addDrain(request.channelKey);
  }
  const replyTo = async (requestId: string) => {
    await collector.waitFor((replies) => replies.some((reply) => reply.requestId === requestId));
    return collector.replies.find((reply) => reply.requestId === requestId);
  };

  it('a worker died after storing the turns, before enqueueing the reply: the stored answer is sent as stored', async () => {
    await pipeline.contexts.append('web:crash', 'web-s1', storedTurns('web-s1', '图里有什么？', '一只红色的猫'));
    await enqueue('crash', 's1', '图里有什么？');
    expect(await replyTo('web-s1')).toMatchObject({ text: '一只红色的猫', finishReason: 'length', language: 'zh-CN' });
    expect(model.requests.map((asked) => asked.requestId)).not.toContain('web-s1');
    await enqueue('crash', 's2', '它是什么颜色的？');
    await replyTo('web-s2');
    // The follow-up sees the stored answer as history, once.
    const asked = model.requests.find((request) => request.requestId === 'web-s2');
    expect(asked?.history.map((turn) => `${turn.requestId}/${turn.role}: ${turn.text}`)).toEqual([
      'web-s1/user: 图里有什么？',
      'web-s1/assistant: 一只红色的猫',
    ]);
  });

  it('another attempt stored its turns during this generation: the reply is the stored answer, not this one', async () => {
    await enqueue('race', 'raced', '问题');
    expect(await replyTo('web-raced')).toMatchObject({ text: '另一次尝试的回答', finishReason: 'length' });
    expect(model.requests.map((asked) => asked.requestId)).toContain('web-raced');
    const turns = await pipeline.contexts.load('web:race');
    expect(turns.map((turn) => turn.text)).toEqual(['问题', '另一次尝试的回答']);
  });
});

describe('generation timeout', () => {
  const redis = useTestRedis();
  it('stops an answer that runs too long, replies with the timeout error, and the channel goes on', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix, { GENERATION_TIMEOUT_MS: 300 });
    const collector = new ReplyCollector();
    const model = new FakeChatModel({ stepMs: 40, words: (question) => (question.includes('很长') ? 100 : 2) });
    const workers = [startModelWorker(pipeline, model), startDeliveryWorker(pipeline, 'web', collector.deliver)];
    try {
      for (const [messageId, text] of [
        ['slow', '请写一篇很长的文章'],
        ['next', '你好'],
      ] as const) {
        await receiveMessage(pipeline, {
          platform: 'web',
          platformMessageId: messageId,
          channelKey: 'web:slow',
          replyTarget: { channel: 'slow' },
          user: { id: 'u', name: 'U' },
          text,
          attachments: [],
          adapterInstance: 'test-adapter',
        });
      }
      await collector.waitFor((replies) => replies.length >= 2);
      expect(collector.replies.map((reply) => [reply.requestId, reply.error, reply.language])).toEqual([
        ['web-slow', 'timeout', 'zh-CN'],
        ['web-next', undefined, 'zh-CN'],
      ]);
    } finally {
      await closeAll(workers);
      await pipeline.queues.close();
    }
  });
});

describe('graceful worker shutdown', () => {
  const redis = useTestRedis();
  it('finishes the answer in progress and hands the rest of the line to another worker', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix);
    const collector = new ReplyCollector();
    const delivery = startDeliveryWorker(pipeline, 'web', collector.deliver);
    const first = startModelWorker(pipeline, new FakeChatModel({ stepMs: 40, words: 5 }));
    let second: Worker | undefined;
    try {
      for (let index = 0; index < 4; index += 1) {
        await receiveMessage(pipeline, {
          platform: 'web',
          platformMessageId: `g${index}`,
          channelKey: 'web:graceful',
          replyTarget: { channel: 'graceful' },
          user: { id: 'u', name: 'U' },
          text: `question ${index} about the weather`,
          attachments: [],
          adapterInstance: 'test-adapter',
        });
      }
      await collector.waitFor((replies) => replies.length >= 1);
      await first.close(); // waits for the active drain job, which stops after its current answer
      const answeredByFirst = collector.replies.length;
      expect(answeredByFirst).toBeLessThan(4);
      second = startModelWorker(pipeline, new FakeChatModel({ words: 2 }));
      await collector.waitFor((replies) => replies.length >= 4);
      expect(collector.replies.map((reply) => reply.requestId)).toEqual(['web-g0', 'web-g1', 'web-g2', 'web-g3']);
    } finally {
      await closeAll([delivery, first, ...(second === undefined ? [] : [second])]);
      await pipeline.queues.close();
    }
  });
});
