import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type DiscordAdapter, startDiscordAdapter } from '../../../adapters/discord/discord-adapter.ts';
import { type LarkAdapter, startLarkAdapter } from '../../../adapters/lark/lark-adapter.ts';
import type { LarkSettings } from '../../../adapters/lark/lark-config.ts';
import type { Logger } from '../../../src/observability/logger.ts';
import {
  createPipelineContext,
  type PipelineContext,
  type PipelineSettings,
} from '../../../src/pipeline/pipeline-context.ts';
import { replyJobId } from '../../../src/queue/pipeline-queues.ts';
import { type PrivateRedisServer, startPrivateRedisServer } from '../../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../../src/redis/redis-connection.ts';
import { ensureDemoModel } from '../../../workers/chat/model-directory-cache.ts';
import { FakeDiscord } from '../fake-discord/fake-discord.ts';
import { FakeOpenPlatform } from '../fake-lark/fake-open-platform.ts';
import {
  type ChatChannel,
  type ChatInput,
  type SentMessage,
  sendDiscordMessage,
  sendLarkMessage,
} from './chat-messages.ts';
import { ReplyTracker } from './reply-tracker.ts';
import { type VerifyReport, verifyAnswers } from './verify-answers.ts';
import { WorkerProcesses } from './worker-processes.ts';

/** Options of {@link startChatStack}. */
export interface ChatStackOptions {
  /** Worker processes to start. */
  workers: number;
  logger: Logger;
  /** Settings of the adapters and the workers alike, over the defaults below (`QUEUE_PREFIX` is always random). */
  settings?: Partial<PipelineSettings>;
  /** Redis keeps an fsynced append-only file (so it can be restarted with its data). @defaultValue false */
  appendOnly?: boolean;
  /** In-process Lark adapter replicas, each with its own long connection. @defaultValue 1 */
  larkReplicas?: number;
  /** Settings of the in-process Lark adapters over the stack's (long-connection timings, say). */
  larkSettings?: Partial<LarkSettings>;
  /** Run the Discord adapter in this process (off: {@link ChatStack.spawnDiscordAdapters} runs it). @defaultValue true */
  discordInProcess?: boolean;
  /** More environment of the worker processes (`SHUTDOWN_GRACE_MS`, say). */
  workerEnvironment?: Record<string, string>;
  /** The workers' LOG_LEVEL. @defaultValue `warn` */
  workerLogLevel?: string;
  /** Where the workers' output goes. @defaultValue `inherit` */
  workerOutput?: 'inherit' | 'ignore';
  /** How long the adapters wait for a platform call that hangs (Lark API calls, Discord CDN downloads). */
  platformTimeoutMs?: number;
  /** Receives the tiny model builder's progress lines (first run only). */
  onModelLog?: (line: string) => void;
}

/** The settings of a stack unless the options say otherwise (no rate limits: they have their own tests). */
const defaultSettings: Omit<PipelineSettings, 'QUEUE_PREFIX'> = {
  CONTEXT_TTL_SECONDS: 3600,
  CONTEXT_MAX_TURNS: 20,
  CONTEXT_MAX_TOKENS: 1024,
  IMAGE_MAX_BYTES: 2 * 1024 * 1024,
  IMAGE_MAX_PIXELS: 40_000_000,
  IMAGE_TTL_SECONDS: 3600,
  TEXT_MAX_CHARACTERS: 4000,
  MAX_NEW_TOKENS: 8,
  GENERATION_TIMEOUT_MS: 120_000,
  // Batching on, as in production: each worker decodes up to 4 channels' answers per step.
  WORKER_BATCH_SIZE: 4,
  JOB_LOCK_MS: 30_000,
  DEDUPLICATION_TTL_SECONDS: 28_800,
  PROGRESS_INTERVAL_MS: 300,
  RATE_LIMIT_USER_PER_MINUTE: 0,
  RATE_LIMIT_CHANNEL_PER_MINUTE: 0,
};

/** The Lark app of the fake open platform. */
const larkApp = { appId: 'cli_0123456789abcdef', appSecret: 'load-secret' };

/**
 * The whole bot against the platform fakes: a private redis-server, the in-process Discord and Lark adapters whose
 * real clients (discord.js, the Lark SDK) talk to {@link FakeDiscord} and {@link FakeOpenPlatform}, and N
 * `ziya-visual-bot worker` processes running the tiny demo model. It records every message it delivers to the bot
 * (in delivery order) and checks the answers with {@link ChatStack.verify}.
 */
export class ChatStack {
  /** Every accepted message, in the order it was first delivered to the bot. */
  readonly sent: SentMessage[] = [];
  readonly larkAdapters: LarkAdapter[] = [];
  private readonly connections: Redis[] = [];
  private discordAdapter: DiscordAdapter | undefined;
  private larkAdapterProcesses: WorkerProcesses | undefined;
  /** Adapter processes started by the tests (Discord, Lark webhook), stopped with the stack. */
  private readonly discordAdapterProcessGroups: WorkerProcesses[] = [];

  private constructor(
    readonly redisServer: PrivateRedisServer,
    readonly redis: Redis,
    readonly pipeline: PipelineContext,
    readonly discord: FakeDiscord,
    readonly lark: FakeOpenPlatform,
    readonly workers: WorkerProcesses,
    readonly tracker: ReplyTracker,
    /** The environment of the stack's processes (settings, Redis, model), for more of them. */
    private readonly environment: Record<string, string>,
  ) {}

  /** Starts everything and waits until every worker has loaded its model. */
  static async start(options: ChatStackOptions): Promise<ChatStack> {
    const modelDir = await ensureDemoModel(options.onModelLog ?? (() => {}));
    const redisServer = await startPrivateRedisServer({ appendOnly: options.appendOnly ?? false });
    const settings: PipelineSettings = {
      ...defaultSettings,
      ...options.settings,
      QUEUE_PREFIX: `{zvb-load-${randomBytes(3).toString('hex')}}`,
    };
    const redis = createRedisConnection(redisServer.url);
    const pipeline = createPipelineContext(redis, settings, options.logger);
    const discord = new FakeDiscord({ guilds: [] });
    await discord.listen();
    const lark = new FakeOpenPlatform({ ...larkApp, botOpenId: 'ou_loadbot' });
    await lark.start();
    const environment = {
      ...Object.fromEntries(Object.entries(settings).map(([name, value]) => [name, String(value)])),
      REDIS_URL: redisServer.url,
      MODEL_DIR: modelDir,
      MODEL_THREADS: '1',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: options.workerLogLevel ?? 'warn',
      ...options.workerEnvironment,
    };
    const workers = new WorkerProcesses(environment, options.workerOutput ?? 'inherit');
    for (let index = 0; index < options.workers; index += 1) workers.spawn();
    const tracker = await ReplyTracker.start(redisServer.url, settings.QUEUE_PREFIX);
    const stack = new ChatStack(redisServer, redis, pipeline, discord, lark, workers, tracker, environment);
    if (options.discordInProcess !== false)
      stack.discordAdapter = await startDiscordAdapter(pipeline, {
        token: discord.token,
        apiUrl: discord.apiUrl,
        eventsConnection: stack.connection(),
        tuning: {
          imageQuestionWindowMs: 0,
          ...(options.platformTimeoutMs === undefined ? {} : { imageDownloadTimeoutMs: options.platformTimeoutMs }),
        },
      });
    for (let replica = 0; replica < (options.larkReplicas ?? 1); replica += 1) {
      stack.larkAdapters.push(
        await startLarkAdapter(pipeline, {
          settings: {
            ...larkApp,
            domain: lark.url,
            imageWaitMs: 0,
            apiRetryDelayMs: 50,
            ...(options.platformTimeoutMs === undefined ? {} : { apiTimeoutMs: options.platformTimeoutMs }),
            ...options.larkSettings,
          },
          eventsConnection: stack.connection(),
        }),
      );
      await lark.waitFor(() => lark.connections > replica, 60_000, 'the Lark long connection');
    }
    await workers.waitUntilRegistered(pipeline.queues.requests, options.workers);
    return stack;
  }

  /**
   * Starts `count` `ziya-visual-bot adapter lark` processes on the fake open platform (each with its own long
   * connection) and waits until they are connected; they are stopped with the stack.
   */
  async spawnLarkAdapters(count: number, stdio: 'inherit' | 'ignore' = 'ignore'): Promise<WorkerProcesses> {
    const processes = new WorkerProcesses(
      {
        ...this.environment,
        LARK_APP_ID: larkApp.appId,
        LARK_APP_SECRET: larkApp.appSecret,
        LARK_DOMAIN: this.lark.url,
        LARK_MODE: 'ws',
        LARK_IMAGE_WAIT_MS: '0',
      },
      stdio,
      ['adapter', 'lark'],
    );
    this.larkAdapterProcesses = processes;
    const connected = this.lark.connections;
    for (let index = 0; index < count; index += 1) processes.spawn();
    await this.lark.waitFor(() => this.lark.connections >= connected + count, 60_000, 'the Lark adapter processes');
    return processes;
  }

  /**
   * `ziya-visual-bot adapter discord` processes on the fake Discord (started one at a time with {@link WorkerProcesses.spawn});
   * they are stopped with the stack. Use with `discordInProcess: false`.
   */
  discordAdapterProcesses(stdio: 'inherit' | 'ignore' = 'ignore'): WorkerProcesses {
    const processes = new WorkerProcesses(
      {
        ...this.environment,
        DISCORD_TOKEN: this.discord.token,
        DISCORD_API_URL: this.discord.apiUrl,
        DISCORD_IMAGE_WAIT_MS: '0',
        ...(process.env['CHAOS_ADAPTER_LOG_LEVEL'] === undefined
          ? {}
          : { LOG_LEVEL: process.env['CHAOS_ADAPTER_LOG_LEVEL'] }),
      },
      stdio,
      ['adapter', 'discord'],
    );
    this.discordAdapterProcessGroups.push(processes);
    return processes;
  }

  /**
   * `ziya-visual-bot adapter lark` processes in webhook mode (`POST /lark/events` on 127.0.0.1:`port`, encrypted
   * with `encryptKey`) on the fake open platform, started one at a time with {@link WorkerProcesses.spawn}; they are
   * stopped with the stack. The events are posted by the test (see `postWebhookEvent`).
   */
  larkWebhookAdapterProcesses(
    port: number,
    webhook: { encryptKey: string; verificationToken: string },
    stdio: 'inherit' | 'ignore' = 'ignore',
  ): WorkerProcesses {
    const processes = new WorkerProcesses(
      {
        ...this.environment,
        LARK_APP_ID: larkApp.appId,
        LARK_APP_SECRET: larkApp.appSecret,
        LARK_DOMAIN: this.lark.url,
        LARK_MODE: 'webhook',
        LARK_WEBHOOK_PORT: String(port),
        LARK_WEBHOOK_HOST: '127.0.0.1',
        LARK_ENCRYPT_KEY: webhook.encryptKey,
        LARK_VERIFICATION_TOKEN: webhook.verificationToken,
        LARK_IMAGE_WAIT_MS: '0',
      },
      stdio,
      ['adapter', 'lark'],
    );
    this.discordAdapterProcessGroups.push(processes);
    return processes;
  }

  /** A fresh connection to the stack's Redis, closed with the stack. */
  private connection(): Redis {
    const connection = createRedisConnection(this.redisServer.url);
    this.connections.push(connection);
    return connection;
  }

  /**
   * Delivers a message to the bot in `channel` and records it as accepted (Lark: on the long connection
   * `socketIndex`, random when unset).
   */
  send(channel: ChatChannel, input: ChatInput, socketIndex?: number): SentMessage {
    const entry =
      channel.platform === 'discord'
        ? sendDiscordMessage(this.discord, channel, input)
        : sendLarkMessage(this.lark, channel, input, socketIndex);
    this.sent.push(entry);
    return entry;
  }

  /** Waits until every accepted message's reply was delivered; false when `timeoutMs` passed first. */
  async waitForAnswers(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const waiting = this.sent.filter((entry) => !this.tracker.delivered.has(entry.requestId));
      if (waiting.length === 0) return true;
      // Completion events can be missed while Redis restarts: ask the queues for the rest.
      for (const entry of waiting.slice(0, 20)) {
        const queue = this.pipeline.queues.repliesQueue(entry.channel.platform);
        if ((await queue.getJobState(replyJobId(entry.requestId))) === 'completed') {
          this.tracker.delivered.set(entry.requestId, performance.now());
        }
      }
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Checks every accepted message's answers, order and stored conversation (see {@link verifyAnswers}). */
  async verify(): Promise<VerifyReport> {
    return await verifyAnswers({
      pipeline: this.pipeline,
      discord: this.discord,
      lark: this.lark,
      sent: this.sent,
      deliveries: this.tracker.deliveries,
    });
  }

  /** Stops everything; never takes more than `timeoutMs` (a client still reconnecting must not hang the caller). */
  async close(timeoutMs = 20_000): Promise<void> {
    const cleanup = async () => {
      await this.workers.stop();
      await this.larkAdapterProcesses?.stop();
      for (const processes of this.discordAdapterProcessGroups) await processes.stop();
      await this.tracker.close();
      await this.discordAdapter?.close();
      for (const adapter of this.larkAdapters) await adapter.close();
      await this.pipeline.queues.close();
      await this.discord.close();
      await this.lark.close();
      await this.redis.quit();
      for (const connection of this.connections) connection.disconnect();
      await this.redisServer.stop();
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cleanup(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}
