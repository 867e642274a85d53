import type { Worker } from 'bullmq';
import { afterAll, beforeAll, inject } from 'vitest';
import { type DiscordAdapter, startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import type { DiscordAllowlist, DiscordTuning } from '../../adapters/discord/discord-config.ts';
import type { ChatModel } from '../../src/model/chat-model.ts';
import type { PipelineContext, PipelineSettings } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeDiscord, type FakeGuild, type FakeUser } from '../support/fake-discord/fake-discord.ts';
import { RecordingChatModel } from '../support/recording-chat-model.ts';
import { type TestRedis, useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

/** Ids of the fake guilds and channels the Discord tests use. */
export const ids = {
  guild: '100000000000000001',
  general: '100000000000000011',
  chinese: '100000000000000012',
  thread: '100000000000000013',
  zhGuild: '100000000000000002',
  zhChannel: '100000000000000021',
  dm: '100000000000000031',
  role: '100000000000000041',
} as const;

/** Two guilds: an English one (with a thread) and a Chinese one. */
export function fakeGuilds(): FakeGuild[] {
  return [
    {
      id: ids.guild,
      name: 'English guild',
      preferredLocale: 'en-US',
      roles: [ids.role],
      channels: [
        { id: ids.general, name: 'general', type: 0 },
        { id: ids.chinese, name: 'chinese', type: 0 },
        { id: ids.thread, name: 'a thread', type: 11, parentId: ids.general },
      ],
    },
    {
      id: ids.zhGuild,
      name: '中文服务器',
      preferredLocale: 'zh-CN',
      channels: [{ id: ids.zhChannel, name: '聊天', type: 0 }],
    },
  ];
}

/** A human user of the fake Discord. */
export function person(id: string, username: string): FakeUser {
  return { id, username };
}

/** Everything one Discord test file runs: the fake Discord, a pipeline on real Redis, a model worker, the adapter. */
export interface DiscordRig {
  discord: FakeDiscord;
  pipeline: PipelineContext;
  model: RecordingChatModel;
  adapter: DiscordAdapter;
  close(): Promise<void>;
}

/** How a rig differs from the default one. */
export interface RigOptions {
  settings?: Partial<PipelineSettings>;
  tuning?: Partial<DiscordTuning>;
  allowlist?: Partial<DiscordAllowlist>;
  model?: ChatModel;
}

/** Starts a rig: the real tiny Ziya model unless `model` is given. */
export async function startRig(redis: TestRedis, options: RigOptions = {}): Promise<DiscordRig> {
  const discord = new FakeDiscord({ guilds: fakeGuilds() });
  await discord.listen();
  const pipeline = testPipeline(redis.connection, redis.prefix, {
    IMAGE_MAX_BYTES: 256 * 1024,
    MAX_NEW_TOKENS: 12,
    ...options.settings,
  });
  const inner =
    options.model ??
    (await ZiyaChatModel.load(inject('tinyModelDir'), {
      executionProvider: 'cpu',
      threads: 1,
      embeddingCache: pipeline.embeddings,
    }));
  const model = new RecordingChatModel(inner);
  const worker: Worker = startModelWorker(pipeline, model, { concurrency: 2 });
  const adapter = await startDiscordAdapter(pipeline, {
    token: discord.token,
    apiUrl: discord.apiUrl,
    eventsConnection: createRedisConnection(redis.url),
    tuning: { imageQuestionWindowMs: 1500, ...options.tuning },
    ...(options.allowlist === undefined ? {} : { allowlist: options.allowlist }),
  });
  return {
    discord,
    pipeline,
    model,
    adapter,
    async close() {
      await adapter.close();
      await worker.close();
      await model.close();
      await pipeline.queues.close();
      await discord.close();
    },
  };
}

/**
 * A test file's rig on its own Redis prefix: started in `beforeAll`, closed in `afterAll`. Its members throw until
 * `beforeAll` has run.
 */
export function useRig(options: RigOptions = {}): Omit<DiscordRig, 'close'> {
  const redis = useTestRedis();
  let rig: DiscordRig | undefined;
  beforeAll(async () => {
    rig = await startRig(redis, options);
  });
  afterAll(async () => {
    await rig?.close();
  });
  const started = (): DiscordRig => {
    if (rig === undefined) throw new Error('useRig(): the rig starts in beforeAll');
    return rig;
  };
  return {
    get discord() {
      return started().discord;
    },
    get pipeline() {
      return started().pipeline;
    },
    get model() {
      return started().model;
    },
    get adapter() {
      return started().adapter;
    },
  };
}

/** The bot's final messages answering `messageId` in `channelId` (the first is a reply to it). */
export function answerTo(discord: FakeDiscord, channelId: string, messageId: string) {
  return discord
    .postedIn(channelId)
    .filter(
      (message) => (message.body['message_reference'] as { message_id?: string } | undefined)?.message_id === messageId,
    );
}
