import type { Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, inject } from 'vitest';
import { type LarkAdapter, type LarkAdapterOptions, startLarkAdapter } from '../../adapters/lark/lark-adapter.ts';
import type { LarkSettings } from '../../adapters/lark/lark-config.ts';
import type { ChatModel } from '../../src/model/chat-model.ts';
import type { PipelineContext, PipelineSettings } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeOpenPlatform, type SentMessage } from '../support/fake-lark/fake-open-platform.ts';
import type { EventMention, FakeUser } from '../support/fake-lark/lark-events.ts';
import { RecordingChatModel } from '../support/recording-chat-model.ts';
import { type TestRedis, useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

/** The bot's open_id on every fake platform. */
export const botOpenId = 'ou_bot0000000000000000000000000000';

/** The bot as a mention (`@_user_1`). */
export function botMention(key = '@_user_1'): EventMention {
  return { key, id: { open_id: botOpenId }, name: 'Ziya' };
}

/** A user of the fake platform. */
export function user(name: string): FakeUser {
  return { openId: `ou_${name}`, name };
}

/** The text a user sees in one sent message (text, card entity or inline card). */
export function visibleText(fake: FakeOpenPlatform, message: SentMessage): string {
  const content = JSON.parse(message.content) as Record<string, unknown>;
  if (message.msgType === 'text') return String(content['text']);
  if (content['type'] === 'card') {
    return fake.cards.get(String((content['data'] as { card_id: string }).card_id))?.content ?? '';
  }
  const elements = (content['body'] as { elements?: Array<{ content?: string }> } | undefined)?.elements ?? [];
  return elements.map((element) => element.content ?? '').join('');
}

/** The card entity a sent message shows, if it is one. */
export function cardIdOf(message: SentMessage): string | undefined {
  const content = JSON.parse(message.content) as { type?: string; data?: { card_id?: string } };
  return content.type === 'card' ? content.data?.card_id : undefined;
}

/** Waits for the bot's complete answer to a message (every streaming card closed) and returns it. */
export async function answerTo(
  fake: FakeOpenPlatform,
  messageId: string,
  timeoutMs = 30_000,
): Promise<{ messages: SentMessage[]; text: string }> {
  await fake.waitFor(
    () => {
      const replies = fake.repliesTo(messageId);
      if (replies.length === 0) return false;
      return replies.every((reply) => {
        const cardId = cardIdOf(reply);
        return cardId === undefined || fake.cards.get(cardId)?.streaming === false;
      });
    },
    timeoutMs,
    `the answer to ${messageId}`,
  );
  const messages = fake.repliesTo(messageId);
  return { messages, text: messages.map((message) => visibleText(fake, message)).join('\n') };
}

/** Sleeps (to show that something does not happen). */
export const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** The keys of a signed, encrypted webhook. */
export interface WebhookKeys {
  encryptKey: string;
  verificationToken: string;
}

/** How {@link useLarkStack} builds a test file's Lark stack. */
export interface LarkStackOptions {
  appId: string;
  appSecret: string;
  /** Receive events over a signed, encrypted webhook on 127.0.0.1 (a free port) instead of the long connection. */
  webhook?: WebhookKeys;
  /** Pipeline settings over `IMAGE_MAX_BYTES: 256 KiB`. */
  settings?: Partial<PipelineSettings>;
  /** The model worker's concurrency (default: the pipeline's `WORKER_BATCH_SIZE`). */
  concurrency?: number;
  /** How long a picture sent alone waits for its question (default 0). */
  imageWaitMs?: number;
  /** Told what became of each received message event. */
  onOutcome?: LarkAdapterOptions['onOutcome'];
  /** Adapter settings over the harness's (long-connection timings, say). */
  lark?: Partial<LarkSettings>;
  /** When given, the pipeline and adapter log here (JSON lines, level info and up). */
  log?: string[];
  /** Wraps the real tiny model (a test double that says what a test needs, say). */
  wrapModel?: (tiny: ChatModel) => ChatModel;
}

/** Everything one Lark test file runs: the fake open platform, a pipeline on real Redis, a model worker, the adapter. */
export interface LarkStack {
  readonly redis: TestRedis;
  readonly fake: FakeOpenPlatform;
  readonly pipeline: PipelineContext;
  /** The real tiny Ziya model, recorded. */
  readonly model: RecordingChatModel;
  readonly adapter: LarkAdapter;
  /** Where the webhook listens (`''` over the long connection). */
  readonly url: string;
}

/**
 * Builds a test file's Lark stack on its own Redis prefix: the fake open platform (whose bot is {@link botOpenId}) is
 * there at once and started in `beforeAll`, with the pipeline, the real tiny model, a model worker and the Lark adapter;
 * `afterAll` closes them in reverse. The other members throw until `beforeAll` has run.
 */
export function useLarkStack(options: LarkStackOptions): LarkStack {
  const redis = useTestRedis();
  const { appId, appSecret, webhook } = options;
  const fake = new FakeOpenPlatform({ appId, appSecret, botOpenId });
  const state: { pipeline?: PipelineContext; model?: RecordingChatModel; worker?: Worker; adapter?: LarkAdapter } = {};

  beforeAll(async () => {
    await fake.start();
    const plain = testPipeline(redis.connection, redis.prefix, { IMAGE_MAX_BYTES: 256 * 1024, ...options.settings });
    const { log } = options;
    const pipeline =
      log === undefined ? plain : { ...plain, logger: pino({ level: 'info' }, { write: (line) => log.push(line) }) };
    state.pipeline = pipeline;
    const tiny = await ZiyaChatModel.load(inject('tinyModelDir'), {
      executionProvider: 'cpu',
      threads: 1,
      embeddingCache: pipeline.embeddings,
    });
    const model = new RecordingChatModel(options.wrapModel?.(tiny) ?? tiny);
    state.model = model;
    const { concurrency } = options;
    state.worker = startModelWorker(pipeline, model, concurrency === undefined ? {} : { concurrency });
    state.adapter = await startLarkAdapter(pipeline, {
      settings: {
        appId,
        appSecret,
        domain: fake.url,
        ...(webhook === undefined ? {} : { mode: 'webhook', ...webhook, webhookPort: 0, webhookHost: '127.0.0.1' }),
        imageWaitMs: options.imageWaitMs ?? 0,
        apiRetryDelayMs: 10,
        ...options.lark,
      },
      eventsConnection: createRedisConnection(redis.url),
      ...(options.onOutcome === undefined ? {} : { onOutcome: options.onOutcome }),
    });
  });
  afterAll(async () => {
    await state.adapter?.close();
    await state.worker?.close();
    await state.model?.close();
    await state.pipeline?.queues.close();
    await fake.close();
  });

  const started = <K extends keyof typeof state>(key: K): NonNullable<(typeof state)[K]> => {
    const value = state[key];
    if (value === undefined) throw new Error(`useLarkStack(): the ${key} starts in beforeAll`);
    return value;
  };
  return {
    redis,
    fake,
    get pipeline() {
      return started('pipeline');
    },
    get model() {
      return started('model');
    },
    get adapter() {
      return started('adapter');
    },
    get url() {
      return started('adapter').webhookUrl ?? '';
    },
  };
}
