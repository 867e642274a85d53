import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LarkAdapter, startLarkAdapter } from '../../adapters/lark/lark-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { messageEvent } from '../support/fake-lark/lark-events.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { answerTo, botOpenId, cardIdOf, pause, user, visibleText } from './lark-harness.ts';

// Delivery mechanics (streaming cards, replicas, retries): the answer's content does not matter here, so the model
// is the FakeChatModel test double, streaming one word every 60 ms so that several card updates happen.
describe('Lark delivery: CardKit streaming, two replicas, 429/5xx retries (real SDK, Redis, BullMQ)', () => {
  const redis = useTestRedis();
  const appId = 'cli_a1b2c3d4e5f60002';
  const appSecret = 'secret-delivery';
  const fake = new FakeOpenPlatform({ appId, appSecret, botOpenId });
  const alice = user('alice');
  let pipeline: PipelineContext;
  let worker: Worker;
  const replicas: LarkAdapter[] = [];
  const model = new FakeChatModel({ stepMs: 60, words: (question) => (question.includes('long') ? 40 : 16) });

  beforeAll(async () => {
    await fake.start();
    pipeline = testPipeline(redis.connection, redis.prefix);
    worker = startModelWorker(pipeline, model, { concurrency: 2 });
    for (const name of ['replica-a', 'replica-b']) {
      replicas.push(
        await startLarkAdapter(pipeline, {
          settings: { appId, appSecret, domain: fake.url, apiRetryDelayMs: 10, cardMaxCharacters: 60, imageWaitMs: 0 },
          eventsConnection: createRedisConnection(redis.url),
          adapterInstance: name,
        }),
      );
    }
    await fake.waitFor(() => fake.connections === 2, 5000, 'two long connections');
  });
  afterAll(async () => {
    for (const replica of replicas) await replica.close();
    await worker?.close();
    await pipeline?.queues.close();
    await fake.close();
  });

  const textEvent = (chatId: string, text: string) =>
    messageEvent({ chatId, chatType: 'p2p', sender: alice, messageType: 'text', content: { text } });

  it('streams into one CardKit card: strictly increasing sequences, ≤ 10 updates/s, closed with the final text', async () => {
    const event = textEvent('oc_stream', 'Tell me a story');
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    expect(answer.messages).toHaveLength(1);
    const cardId = cardIdOf(answer.messages[0] ?? fake.sent[0]!);
    expect(cardId).toBeDefined();
    const card = fake.cards.get(cardId ?? '')!;
    const sequences = card.updates.map((update) => update.sequence);
    expect(sequences.length).toBeGreaterThanOrEqual(3);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);
    expect(card.refused).toEqual([]);
    expect(card.updates.at(-1)?.kind).toBe('settings');
    expect(card.streaming).toBe(false);
    expect(card.content).toBe(Array.from({ length: 16 }, (_, index) => `w${index}`).join(' '));
    for (const update of card.updates) {
      expect(card.updates.filter((other) => Math.abs(other.at - update.at) < 500).length).toBeLessThanOrEqual(6);
    }
  });

  it('answers an event delivered once to each of two replicas exactly once', async () => {
    const event = textEvent('oc_replicas', 'Hello from two sides');
    const frameId = fake.pushEvent(event, 0);
    fake.repush(frameId, 1);
    fake.repush(frameId, 0);
    fake.repush(frameId, 1);
    await answerTo(fake, event.event.message.message_id);
    await fake.waitFor(() => (fake.pushed.get(frameId)?.ackCodes.length ?? 0) >= 4, 5000, 'four acks');
    await pause(400);
    expect(fake.repliesTo(event.event.message.message_id)).toHaveLength(1);
    expect(
      model.requests.filter((request) => request.requestId === `lark-${event.event.message.message_id}`),
    ).toHaveLength(1);
  });

  it('keeps receiving after the platform drops the long connections (the SDK reconnects)', async () => {
    const opened = fake.connectionsOpened;
    fake.dropConnections();
    await fake.waitFor(
      () => fake.connectionsOpened >= opened + 2 && fake.connections === 2,
      15_000,
      'both replicas reconnected',
    );
    const event = textEvent('oc_reconnect', 'Still there?');
    fake.pushEvent(event);
    expect((await answerTo(fake, event.event.message.message_id)).messages).toHaveLength(1);
  });

  it('retries 429 (99991400) and 5xx with backoff, a lost response included, and still sends once', async () => {
    fake.injections.push(
      {
        method: 'POST',
        path: /\/reply$/,
        status: 429,
        body: { code: 99991400, msg: 'request trigger frequency limit' },
        times: 2,
      },
      {
        method: 'POST',
        path: /\/reply$/,
        status: 500,
        body: { code: 1, msg: 'internal error' },
        times: 1,
        afterCommit: true,
      },
      { method: 'PATCH', path: /\/settings$/, status: 503, body: { code: 2, msg: 'unavailable' }, times: 1 },
    );
    const event = textEvent('oc_retry', 'Please answer despite errors');
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    await pause(300);
    expect(fake.repliesTo(event.event.message.message_id)).toHaveLength(1);
    expect(answer.text).toBe(Array.from({ length: 16 }, (_, index) => `w${index}`).join(' '));
    expect(fake.injections.every((injection) => injection.times === 0)).toBe(true);
    expect(fake.calls.filter((call) => call.status === 429).length).toBeGreaterThanOrEqual(2);
  });

  it('continues an answer longer than one card in new cards', async () => {
    const event = textEvent('oc_long', 'a long answer please');
    fake.pushEvent(event);
    const shownWords = () =>
      fake
        .repliesTo(event.event.message.message_id)
        .flatMap((message) => visibleText(fake, message).split(/\s+/))
        .filter((word) => word !== '').length;
    await fake.waitFor(() => shownWords() >= 40, 20_000, 'the whole answer across cards');
    const answer = await answerTo(fake, event.event.message.message_id);
    const words = Array.from({ length: 40 }, (_, index) => `w${index}`);
    expect(answer.messages.length).toBeGreaterThanOrEqual(3);
    for (const message of answer.messages) expect([...visibleText(fake, message)].length).toBeLessThanOrEqual(60);
    expect(answer.text.split(/\s+/).filter((word) => word !== '')).toEqual(words);
  });
});

describe('Lark delivery without the CardKit permission', () => {
  const redis = useTestRedis();
  const appId = 'cli_a1b2c3d4e5f60003';
  const fake = new FakeOpenPlatform({ appId, appSecret: 'secret-nocard', botOpenId, cardPermission: false });
  let pipeline: PipelineContext;
  let worker: Worker;
  let adapter: LarkAdapter;

  beforeAll(async () => {
    await fake.start();
    pipeline = testPipeline(redis.connection, redis.prefix);
    worker = startModelWorker(pipeline, new FakeChatModel({ stepMs: 40, words: 12 }));
    adapter = await startLarkAdapter(pipeline, {
      settings: { appId, appSecret: 'secret-nocard', domain: fake.url, apiRetryDelayMs: 10 },
      eventsConnection: createRedisConnection(redis.url),
    });
  });
  afterAll(async () => {
    await adapter?.close();
    await worker?.close();
    await pipeline?.queues.close();
    await fake.close();
  });

  it('falls back to one plain final text message', async () => {
    const event = messageEvent({
      chatId: 'oc_plain',
      chatType: 'p2p',
      sender: user('dave'),
      messageType: 'text',
      content: { text: 'Hi there' },
    });
    fake.pushEvent(event);
    const answer = await answerTo(fake, event.event.message.message_id);
    await pause(300);
    expect(fake.repliesTo(event.event.message.message_id)).toHaveLength(1);
    expect(answer.messages[0]?.msgType).toBe('text');
    expect(answer.text).toBe(Array.from({ length: 12 }, (_, index) => `w${index}`).join(' '));
    expect(fake.calls.some((call) => call.path === '/open-apis/cardkit/v1/cards')).toBe(true);
  });
});
