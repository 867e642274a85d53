import { randomUUID } from 'node:crypto';
import type { Worker } from 'bullmq';
import {
  type ChatInputCommandInteraction,
  type Client,
  Events,
  type Interaction,
  type Message,
  MessageFlags,
  Routes,
} from 'discord.js';
import type { Redis } from 'ioredis';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import type { IngestAttachment } from '../../src/contracts/ingest-job.ts';
import { requestIdFor } from '../../src/contracts/platform.ts';
import { t } from '../../src/i18n/catalog.ts';
import { platformErrors, platformRateLimited } from '../../src/observability/metrics.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import { HeldPictures } from '../../src/pipeline/held-pictures.ts';
import { startIngestWorker } from '../../src/pipeline/ingest-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { type ReceivedMessage, receiveMessage } from '../../src/pipeline/receive-message.ts';
import { renderReply } from '../../src/pipeline/render-reply.ts';
import { type DecodedDiscordMessage, decodeMessage, discordChannelKey, isAllowed, triggerOf } from './decode.ts';
import {
  allowedImageOrigins,
  type DiscordAllowlist,
  type DiscordTuning,
  discordTuningDefaults,
} from './discord-config.ts';
import { createDiscordImageDownloader } from './download-image.ts';
import { defuseMassMentions } from './encode.ts';
import { GatewayCatchUp } from './gateway-catch-up.ts';
import { closeResumable, replayEvent } from './gateway-replay.ts';
import { GatewaySessionRecorder } from './gateway-session-recorder.ts';
import { GatewaySessionStore } from './gateway-session-store.ts';
import { interactionTarget, messageTarget, replySinkFor } from './reply-sink.ts';
import { ReplyStreams } from './reply-stream.ts';
import { commandText, type SlashCommandName, slashCommandDefinitions } from './slash-commands.ts';
import { createDiscordClient, loginDiscord } from './transport.ts';
import { TypingIndicators } from './typing-indicator.ts';

/** Options of the Discord adapter. */
export interface DiscordAdapterOptions {
  /** The bot token (`DISCORD_TOKEN`); never logged. */
  token: string;
  /** REST base override (`DISCORD_API_URL`, e.g. `http://127.0.0.1:PORT/api`); its origin may serve attachments. */
  apiUrl?: string | undefined;
  /** A dedicated connection for the progress listener (QueueEvents blocks on it); closed with the adapter. */
  eventsConnection: Redis;
  /** @defaultValue everyone */
  allowlist?: Partial<DiscordAllowlist>;
  /** @defaultValue a random `discord-<uuid>` */
  adapterInstance?: string;
  /** @defaultValue {@link discordTuningDefaults} */
  tuning?: Partial<DiscordTuning>;
  /** DISCORD_SHARDS: `auto` (Discord's recommendation) or how many shards this process runs. @defaultValue 'auto' */
  shards?: 'auto' | number;
  /**
   * Keep the gateway sessions in Redis and resume the previous process's at start (Discord replays what it missed).
   * @defaultValue true
   */
  resumeSessions?: boolean;
}

/** A running Discord adapter. */
export interface DiscordAdapter {
  readonly client: Client;
  readonly botUserId: string;
  close(): Promise<void>;
}

const slashCommandNames = new Set<string>(['ask', 'reset', 'help']);

/**
 * Starts the Discord adapter: logs in (a refused token throws `DiscordTokenError`), registers `/ask`, `/reset`,
 * `/help`, turns triggering messages and commands into requests, downloads their images in its ingest worker, streams
 * partial answers by editing one reply, and delivers final answers from `replies-discord`.
 */
export async function startDiscordAdapter(
  pipeline: PipelineContext,
  options: DiscordAdapterOptions,
): Promise<DiscordAdapter> {
  const tuning: DiscordTuning = { ...discordTuningDefaults, ...options.tuning };
  const allowlist: DiscordAllowlist = { guilds: [], channels: [], roles: [], users: [], ...options.allowlist };
  const adapterInstance = options.adapterInstance ?? `discord-${randomUUID()}`;
  const imageOrigins = allowedImageOrigins(options.apiUrl);
  const logger = pipeline.logger.child({ adapter: 'discord' });
  const sessionStore = new GatewaySessionStore(pipeline.redis, pipeline.keys);
  // The previous process's sessions are resumed first: their replay is handed to the handlers once they are attached.
  const catchUp =
    options.resumeSessions === false
      ? undefined
      : await GatewayCatchUp.open({ token: options.token, store: sessionStore, logger });
  const client = createDiscordClient(options.apiUrl, options.shards ?? 'auto');
  try {
    await loginDiscord(client, options.token);
  } catch (error) {
    catchUp?.close();
    throw error;
  }
  const botUserId = client.user?.id ?? '';
  logger.info({ botUserId, guilds: client.guilds.cache.size }, 'discord: connected');

  const typing = new TypingIndicators(client.rest, tuning.typingIntervalMs, tuning.typingMaxMs);
  const streams = new ReplyStreams({
    redis: pipeline.redis,
    keyPrefix: pipeline.settings.QUEUE_PREFIX,
    sinkFor: (target, requestId) => replySinkFor(client.rest, target, requestId),
    editIntervalMs: tuning.streamEditIntervalMs,
    maxMessageLength: tuning.maxMessageLength,
    logger,
    onFirstText: (requestId) => typing.stop(requestId),
  });

  /** The request a message makes (`text` and `images` may come from a held picture and its question). */
  function receivedOf(
    asking: Message,
    decoded: DecodedDiscordMessage,
    text: string,
    images: IngestAttachment[],
  ): ReceivedMessage {
    const extraImages = Math.max(0, images.length - 1);
    return {
      platform: 'discord',
      platformMessageId: asking.id,
      channelKey: decoded.channelKey,
      replyTarget: messageTarget(
        asking.channelId,
        asking.id,
        extraImages > 0 ? { extraImages: String(extraImages) } : {},
      ),
      user: decoded.user,
      text,
      attachments: images.slice(0, 1),
      ...(decoded.languageHint === undefined ? {} : { languageHint: decoded.languageHint }),
      adapterInstance,
    };
  }

  /** Submits a request; this replica streams its answer (a held picture may have been received by another). */
  async function submit(message: ReceivedMessage): Promise<void> {
    const requestId = requestIdFor('discord', message.platformMessageId);
    streams.expect(requestId, message.replyTarget);
    const result = await receiveMessage(pipeline, { ...message, adapterInstance });
    if (!result.duplicate) typing.start(result.requestId, message.replyTarget['channelId'] ?? '');
  }

  // A picture sent alone waits for its sender's question in Redis; after the wait it is answered by itself.
  const heldPictures = new HeldPictures(pipeline, 'discord', tuning.imageQuestionWindowMs);
  const submitAlone = async (held: { alone?: ReceivedMessage | undefined } | undefined) => {
    if (held?.alone !== undefined) await submit(held.alone);
  };

  async function onMessage(message: Message, roleIds: readonly string[]): Promise<void> {
    if (message.author.bot || message.author.id === botUserId) return;
    const key = `${message.channelId}:${message.author.id}`;
    const held = tuning.imageQuestionWindowMs > 0 ? await heldPictures.take(key) : undefined;
    const trigger = triggerOf(message, botUserId);
    if (trigger === undefined && held === undefined) return;
    const channel = message.channel;
    const parentId = channel.isThread() ? channel.parentId : null;
    const allowed = isAllowed(allowlist, {
      guildId: message.guildId,
      channelId: message.channelId,
      parentId,
      userId: message.author.id,
      roleIds,
    });
    if (!allowed) {
      await submitAlone(held);
      return;
    }
    const decoded = decodeMessage(message, { botId: botUserId, imageOrigins });
    if (held !== undefined) {
      if (decoded.text !== '' && decoded.images.length === 0) {
        // The question for the picture just before it: one request, answered as a reply to the question.
        await submit(receivedOf(message, decoded, decoded.text, held.attachments));
        return;
      }
      await submitAlone(held);
      if (trigger === undefined) return;
    }
    const received = receivedOf(message, decoded, decoded.text, decoded.images);
    if (decoded.images.length > 0 && decoded.text === '' && tuning.imageQuestionWindowMs > 0) {
      // Dropped when seen before (a replayed event): the held picture has its own receipt.
      if (!(await pipeline.receipts.markReceived(requestIdFor('discord', `${message.id}.held`)))) return;
      await submitAlone(await heldPictures.hold(key, { id: message.id, attachments: decoded.images, alone: received }));
      return;
    }
    await submit(received);
  }

  async function onCommand(interaction: ChatInputCommandInteraction): Promise<void> {
    const name = interaction.commandName as SlashCommandName;
    const channel = interaction.channel;
    const parentId = channel?.isThread() ? channel.parentId : null;
    const roleIds =
      interaction.member === null
        ? []
        : Array.isArray(interaction.member.roles)
          ? interaction.member.roles
          : [...interaction.member.roles.cache.keys()];
    const allowed = isAllowed(allowlist, {
      guildId: interaction.guildId,
      channelId: interaction.channelId,
      parentId,
      userId: interaction.user.id,
      roleIds,
    });
    if (!allowed) {
      await interaction.reply({ content: t(interaction.locale, 'discord.not_allowed'), flags: MessageFlags.Ephemeral });
      return;
    }
    try {
      await interaction.deferReply();
    } catch (error) {
      if ((error as { code?: number }).code === 40_060) return; // acknowledged before: a replayed interaction
      throw error;
    }
    if (name === 'help') {
      // Nothing to ask the model: answered here, in the user's own Discord language.
      await interaction.editReply({ content: t(interaction.locale, 'help.text'), allowedMentions: { parse: [] } });
      return;
    }
    const images: IngestAttachment[] = [];
    const attachment = name === 'ask' ? interaction.options.getAttachment('image') : null;
    if (attachment !== null) {
      images.push({
        kind: 'url',
        url: attachment.url,
        fileName: attachment.name,
        size: attachment.size,
        ...(attachment.contentType === null ? {} : { mediaType: attachment.contentType }),
      });
    }
    const text = commandText(name, name === 'ask' ? interaction.options.getString('question') : null);
    // The reset confirmation is rendered in the interaction's locale when it is delivered.
    const target = interactionTarget(
      interaction.applicationId,
      interaction.token,
      interaction.channelId,
      name === 'reset' ? { command: 'reset', locale: interaction.locale } : {},
    );
    const requestId = requestIdFor('discord', interaction.id);
    streams.expect(requestId, target);
    await receiveMessage(pipeline, {
      platform: 'discord',
      platformMessageId: interaction.id,
      channelKey: discordChannelKey(interaction.channelId, parentId),
      replyTarget: target,
      user: { id: interaction.user.id, name: interaction.user.displayName },
      text,
      attachments: images,
      languageHint: interaction.locale,
      adapterInstance,
    });
  }

  // One channel's messages are taken in order: a question must find the picture sent just before it held.
  const channelChains = new Map<string, Promise<void>>();
  const recorder =
    options.resumeSessions === false ? undefined : new GatewaySessionRecorder(client, sessionStore, logger);
  client.on(Events.MessageCreate, (message) => {
    // Roles as of this message: the cached member is shared and a later message may update it before this one runs.
    const roleIds = message.member === null ? [] : [...message.member.roles.cache.keys()];
    const previous = channelChains.get(message.channelId) ?? Promise.resolve();
    const next = previous
      .then(() => onMessage(message, roleIds))
      .catch((error: unknown) =>
        logger.error({ messageId: message.id, error: (error as Error).message }, 'discord: could not take a message'),
      );
    // The session's stored sequence passes this event only once it is taken (a crash before that replays it).
    recorder?.hold(next);
    channelChains.set(message.channelId, next);
    void next.then(() => {
      if (channelChains.get(message.channelId) === next) channelChains.delete(message.channelId);
    });
  });
  client.on(Events.InteractionCreate, (interaction: Interaction) => {
    if (!interaction.isChatInputCommand() || !slashCommandNames.has(interaction.commandName)) return;
    const taking = onCommand(interaction).catch((error: unknown) => {
      platformErrors.inc({ platform: 'discord', operation: 'command' });
      logger.error({ interactionId: interaction.id, error: (error as Error).message }, 'discord: command failed');
    });
    recorder?.hold(taking);
  });
  recorder?.start();
  if (catchUp !== undefined) {
    catchUp.drain((event) => replayEvent(client, event, logger));
    // The new session receives everything from here on; what both carried is dropped by its receipt.
    catchUp.close();
  }
  client.on(Events.ShardResume, (shardId, replayed) => logger.info({ shardId, replayed }, 'discord: session resumed'));
  client.on(Events.Error, (error) => logger.error({ error: error.message }, 'discord: client error'));
  // @discordjs/rest waits out 429s by itself (edits lag rather than fail); count them for the dashboards.
  client.rest.on('rateLimited', (info) => {
    platformRateLimited.inc({ platform: 'discord', operation: info.method.toLowerCase() });
    logger.debug({ route: info.route, retryAfter: info.retryAfter, global: info.global }, 'discord: rate limited');
  });

  if (tuning.registerCommands) {
    await client.rest
      .put(Routes.applicationCommands(client.application?.id ?? botUserId), { body: slashCommandDefinitions() })
      .catch((error: unknown) =>
        logger.warn({ error: (error as Error).message }, 'discord: could not register slash commands'),
      );
  }

  const deliver = async (reply: ChatReply): Promise<void> => {
    typing.stop(reply.requestId);
    const commandLocale = reply.replyTarget['command'] === 'reset' ? reply.replyTarget['locale'] : undefined;
    let text =
      commandLocale !== undefined && reply.error === undefined
        ? t(commandLocale, 'reset.done')
        : renderReply(reply, { demoNotice: true });
    const extraImages = Number(reply.replyTarget['extraImages'] ?? 0);
    if (reply.error === undefined && extraImages > 0) {
      text = `${t(reply.language, 'note.first_image_only', { count: extraImages + 1 })}\n\n${text}`;
    }
    if (text.trim() === '') text = t(reply.language, 'note.empty_answer');
    await streams.finish(reply.requestId, reply.replyTarget, defuseMassMentions(text));
  };
  const listener: ProgressListener = await startProgressListener(
    options.eventsConnection,
    pipeline.settings.QUEUE_PREFIX,
    adapterInstance,
    (progress) => streams.progress(progress.requestId, defuseMassMentions(progress.text)),
    (error) => pipeline.logger.warn({ err: error.message }, 'progress listener connection error'),
  );
  const workers: Worker[] = [
    startIngestWorker(
      pipeline,
      'discord',
      {
        downloadAttachment: createDiscordImageDownloader({
          imageOrigins,
          maxBytes: pipeline.settings.IMAGE_MAX_BYTES,
          timeoutMs: tuning.imageDownloadTimeoutMs,
        }),
      },
      { held: { pictures: heldPictures, submit } },
    ),
    startDeliveryWorker(pipeline, 'discord', deliver),
  ];

  return {
    client,
    botUserId,
    async close() {
      // A picture still waiting for its question stays held in Redis: its delayed job answers it in any replica.
      typing.close();
      // The gateway is closed with a code that keeps the session resumable (1000 would end it), and the last taken
      // sequence is stored: the next process resumes the session and Discord replays what came after.
      await closeResumable(client);
      await recorder?.stop();
      await Promise.all(workers.map((worker) => worker.close()));
      streams.close();
      await listener.close();
      await client.destroy();
    },
  };
}
