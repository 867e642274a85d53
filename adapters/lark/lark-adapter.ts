import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, DefaultCache, EventDispatcher, LoggerLevel } from '@larksuiteoapi/node-sdk';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { requestIdFor } from '../../src/contracts/platform.ts';
import { platformConnected, platformLastEventSeconds, platformReconnects } from '../../src/observability/metrics.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import { HeldPictures } from '../../src/pipeline/held-pictures.ts';
import { InOrderPerKey } from '../../src/pipeline/in-order-per-key.ts';
import type { DownloadAttachment } from '../../src/pipeline/ingest-processor.ts';
import { startIngestWorker } from '../../src/pipeline/ingest-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { CardReplier } from './card-replier.ts';
import type { LarkMessageEvent } from './decode.ts';
import { startWebhookServer, type WebhookServer } from './http.ts';
import { httpInstanceWithTimeout } from './http-timeout.ts';
import { LarkApi } from './lark-api.ts';
import { LarkApiError } from './lark-api-error.ts';
import { type LarkSettings, larkDefaults, resolveLarkDomain, validateLarkSettings } from './lark-config.ts';
import { type ReceiveOutcome, receiveLarkEvent } from './receive-event.ts';
import { sdkLogger } from './sdk-logger.ts';
import { type LongConnection, replacementDelayMs, startLongConnection } from './ws.ts';

/** Options of {@link startLarkAdapter}. */
export interface LarkAdapterOptions {
  settings: Pick<LarkSettings, 'appId' | 'appSecret'> & Partial<LarkSettings>;
  /** A dedicated connection for the progress listener (QueueEvents blocks on it); closed with the adapter. */
  eventsConnection: Redis;
  /** @defaultValue a random `lark-<uuid>` */
  adapterInstance?: string;
  /** Called with what became of each received message event (tests, metrics). */
  onOutcome?: (outcome: ReceiveOutcome, event: LarkMessageEvent) => void;
  /** Ends the wait for an unreachable platform at start (shutdown during start-up). */
  signal?: AbortSignal;
}

/** A running Lark adapter. */
export interface LarkAdapter {
  readonly botOpenId: string;
  readonly adapterInstance: string;
  /** The webhook URL in webhook mode. */
  readonly webhookUrl?: string;
  /** True while events can arrive: the long connection is up (it reconnects by itself), or the webhook listens. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/**
 * Starts the Feishu/Lark adapter: checks the credentials (token + bot info, which also gives the bot's open_id for
 * mention checks), then receives `im.message.receive_v1` over the long connection or the webhook, enqueues, ingests
 * images with `im.v1.messageResource.get`, streams answers into CardKit cards and delivers final replies once.
 */
export async function startLarkAdapter(pipeline: PipelineContext, options: LarkAdapterOptions): Promise<LarkAdapter> {
  const settings: LarkSettings = { ...larkDefaults, ...options.settings };
  validateLarkSettings(settings);
  const { sdkDomain, languageHint } = resolveLarkDomain(settings.domain);
  const adapterInstance = options.adapterInstance ?? `lark-${randomUUID()}`;
  const logger = pipeline.logger.child({ adapter: 'lark', adapterInstance });
  const client = new Client({
    appId: settings.appId,
    appSecret: settings.appSecret,
    domain: sdkDomain,
    loggerLevel: LoggerLevel.warn,
    logger: sdkLogger(logger, [settings.appSecret, settings.encryptKey ?? '']),
    // Its own token cache: the SDK's default one is process-wide, where another client's token would hide a wrong secret.
    cache: new DefaultCache(),
    httpInstance: httpInstanceWithTimeout(settings.apiTimeoutMs),
  });
  const api = new LarkApi(client, {
    attempts: settings.apiAttempts,
    retryDelayMs: settings.apiRetryDelayMs,
    maxImageBytes: pipeline.settings.IMAGE_MAX_BYTES,
    logger,
  });
  const botOpenId = await untilReachable(() => api.botOpenId(), settings, logger, options.signal);

  const prefix = pipeline.keys.prefix;
  const replier = new CardReplier(
    api,
    pipeline.redis,
    prefix,
    { updateIntervalMs: settings.cardUpdateIntervalMs, maxCharacters: settings.cardMaxCharacters },
    logger,
  );
  const heldPictures = new HeldPictures(pipeline, 'lark', settings.imageWaitMs);
  const dependencies = {
    pipeline,
    api,
    botOpenId,
    settings,
    languageHint,
    adapterInstance,
    heldPictures,
  };
  // A chat's events are received in the order they came (Lark pushes the events of a reconnect gap back to back).
  const inOrder = new InOrderPerKey();
  const dispatcher = new EventDispatcher({
    ...(settings.encryptKey === undefined ? {} : { encryptKey: settings.encryptKey }),
    ...(settings.verificationToken === undefined ? {} : { verificationToken: settings.verificationToken }),
    loggerLevel: LoggerLevel.warn,
    logger: sdkLogger(logger, [settings.appSecret, settings.encryptKey ?? '']),
  }).register({
    'im.message.receive_v1': async (event: LarkMessageEvent) => {
      platformLastEventSeconds.set({ platform: 'lark' }, Date.now() / 1000);
      const outcome = await inOrder.run(event.message?.chat_id ?? '', () => receiveLarkEvent(dependencies, event));
      options.onOutcome?.(outcome, event);
    },
  });

  const download: DownloadAttachment = async (attachment, signal) => {
    if (attachment.kind !== 'platform') throw new Error(`the Lark adapter cannot fetch ${attachment.kind} attachments`);
    return await api.downloadImage(attachment.messageId, attachment.fileKey, signal);
  };
  const listener: ProgressListener = await startProgressListener(
    options.eventsConnection,
    prefix,
    adapterInstance,
    (progress) => {
      // Progress carries no reply target: the request id is `lark-<message_id>`, and a thread's channel key has 3 parts.
      if (progress.platform === 'lark') {
        const messageId = progress.requestId.slice(requestIdFor('lark', '').length);
        replier.onProgress(progress, messageId, progress.channelKey.split(':').length > 2);
      }
    },
    (error) => pipeline.logger.warn({ err: error.message }, 'progress listener connection error'),
  );
  const workers: Worker[] = [
    startIngestWorker(
      pipeline,
      'lark',
      { downloadAttachment: download },
      {
        held: {
          pictures: heldPictures,
          submit: async (message) => {
            await receiveMessage(pipeline, { ...message, adapterInstance });
          },
        },
      },
    ),
    startDeliveryWorker(pipeline, 'lark', (reply) => replier.deliver(reply)),
  ];

  let connection: LongConnection | undefined;
  let webhook: WebhookServer | undefined;
  try {
    if (settings.mode === 'ws') {
      connection = await startLongConnection({
        appId: settings.appId,
        appSecret: settings.appSecret,
        domain: sdkDomain,
        dispatcher,
        logger,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        readyTimeoutMs: settings.connectTimeoutMs,
        pingTimeoutMs: settings.pingTimeoutMs,
        stallMs: settings.reconnectStallMs,
        reconnectBaseMs: settings.reconnectBaseMs,
        reconnectMaxMs: settings.reconnectMaxMs,
        onStateChange: (state) => platformConnected.set({ platform: 'lark' }, state === 'connected' ? 1 : 0),
        onReplace: (reason) => platformReconnects.inc({ platform: 'lark', reason }),
      });
    } else {
      webhook = await startWebhookServer({
        port: settings.webhookPort,
        host: settings.webhookHost,
        ...(settings.encryptKey === undefined ? {} : { encryptKey: settings.encryptKey }),
        ...(settings.verificationToken === undefined ? {} : { verificationToken: settings.verificationToken }),
        dispatcher,
        logger,
      });
    }
  } catch (error) {
    await Promise.all(workers.map((worker) => worker.close()));
    await listener.close();
    throw error;
  }
  const connected = connection === undefined || connection.state === 'connected';
  logger.info({ mode: settings.mode, botOpenId, webhook: webhook?.url, connected }, 'Lark adapter ready');
  return {
    botOpenId,
    adapterInstance,
    ...(webhook === undefined ? {} : { webhookUrl: webhook.url }),
    get connected() {
      return connection === undefined || connection.state === 'connected';
    },
    async close() {
      connection?.close();
      if (connection !== undefined) platformConnected.set({ platform: 'lark' }, 0);
      await webhook?.close();
      await replier.close();
      await Promise.all(workers.map((worker) => worker.close()));
      await listener.close();
    },
  };
}

/**
 * `call` (the bot info at start), again and again while the platform is unreachable (network errors, 5xx, 429: a
 * retryable {@link LarkApiError}), with the long connection's backoff; said once. A refused app throws at once.
 */
async function untilReachable<T>(
  call: () => Promise<T>,
  settings: Pick<LarkSettings, 'reconnectBaseMs' | 'reconnectMaxMs'>,
  logger: PipelineContext['logger'],
  signal: AbortSignal | undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof LarkApiError && error.retryable) || signal?.aborted) throw error;
      if (attempt === 1) logger.warn(`Lark platform unreachable (${error.message}): retrying until it answers`);
      const delayMs = replacementDelayMs(attempt, settings.reconnectBaseMs, settings.reconnectMaxMs);
      await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
    }
  }
}
