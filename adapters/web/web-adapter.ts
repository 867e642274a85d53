import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import { platformSchema } from '../../src/contracts/platform.ts';
import { OriginPolicy } from '../../src/http/origin-policy.ts';
import { createMetricsRegistry } from '../../src/observability/metrics.ts';
import type { QueueDashboardHandler } from '../../src/observability/ops-endpoints.ts';
import { Readiness, type ReadinessCheck, ReadyFlag, redisCheck } from '../../src/observability/readiness.ts';
import { startDeliveryWorker } from '../../src/pipeline/delivery-worker.ts';
import { startIngestWorker } from '../../src/pipeline/ingest-worker.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { type ProgressListener, startProgressListener } from '../../src/pipeline/progress-listener.ts';
import { renderReply } from '../../src/pipeline/render-reply.ts';
import { ModelInfoStore } from '../../src/store/model-info-store.ts';
import { ChannelHub, type StreamLimits } from './channel-hub.ts';
import { createWebServer } from './server.ts';
import type { SignInAttemptLimits } from './sign-in-attempts.ts';
import { assertWebAccessConfigured, WebAccess } from './web-access.ts';

/** Options of the web chat adapter. */
export interface WebAdapterOptions {
  port: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** A dedicated connection for the progress listener (QueueEvents blocks on it); closed with the adapter. */
  eventsConnection: Redis;
  defaultLanguage?: 'zh-CN' | 'zh-TW' | 'en';
  /** @defaultValue a random `web-<uuid>` */
  adapterInstance?: string;
  /** When set, `/metrics` wants this bearer token (METRICS_TOKEN). */
  metricsToken?: string | undefined;
  /** When set, Bull Board is mounted at `/admin/queues` behind this token (ADMIN_TOKEN); unset: not mounted. */
  adminToken?: string | undefined;
  /** ADMIN_WRITE: Bull Board may change jobs (retry, remove, add). @defaultValue false (read-only) */
  adminWrite?: boolean;
  /** WEB_PUBLIC_URL: the address people open (a DNS name behind a proxy); its Host and Origin are trusted. */
  publicUrl?: string | undefined;
  /** Bounds on open event streams (WEB_MAX_STREAMS, WEB_MAX_STREAMS_PER_CLIENT). */
  streamLimits?: Partial<StreamLimits>;
  /** WEB_ACCESS_TOKEN: the chat wants a sign-in with it (required on a non-loopback host unless `publicChat`). */
  accessToken?: string | undefined;
  /** WEB_PUBLIC: serve a non-loopback host without an access token. @defaultValue false */
  publicChat?: boolean;
  /** WEB_TRUSTED_USER_HEADER: the auth proxy's header naming each person (their own rate limits). */
  trustedUserHeader?: string | undefined;
  /** Wrong sign-in tokens allowed per client address. @defaultValue 5 a minute */
  signInAttempts?: SignInAttemptLimits;
  /** More `/readyz` checks (`start` adds `model`); `redis` and `platform` (listening) are always there. */
  readinessChecks?: Record<string, ReadinessCheck>;
}

/** A running web chat adapter. */
export interface WebAdapter {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The JSON an SSE `reply` event carries. */
export function replyEvent(reply: ChatReply) {
  return {
    requestId: reply.requestId,
    text: renderReply(reply),
    language: reply.language,
    finishReason: reply.finishReason,
    ...(reply.error === undefined ? {} : { error: reply.error }),
  };
}

/**
 * Starts the local web chat: the HTTP server (API + page), its ingest worker (uploads arrive with the message), its
 * delivery worker on `replies-web` (replies go to the channel's event streams) and its progress listener. Replies
 * reach the streams held by this process: run one web adapter per deployment.
 */
export async function startWebAdapter(pipeline: PipelineContext, options: WebAdapterOptions): Promise<WebAdapter> {
  assertWebAccessConfigured(options.host ?? '127.0.0.1', options.accessToken, options.publicChat ?? false);
  const adapterInstance = options.adapterInstance ?? `web-${randomUUID()}`;
  const hub = new ChannelHub(undefined, options.streamLimits);
  const channelOf = (channelKey: string) => channelKey.slice('web:'.length);
  const listener: ProgressListener = await startProgressListener(
    options.eventsConnection,
    pipeline.settings.QUEUE_PREFIX,
    adapterInstance,
    (progress) =>
      hub.send(channelOf(progress.channelKey), 'progress', { requestId: progress.requestId, text: progress.text }),
    (error) => pipeline.logger.warn({ err: error.message }, 'progress listener connection error'),
  );
  const workers: Worker[] = [
    startIngestWorker(pipeline, 'web', {}),
    startDeliveryWorker(pipeline, 'web', async (reply) => {
      const channel = reply.replyTarget['channel'];
      if (channel !== undefined) hub.send(channel, 'reply', replyEvent(reply));
    }),
  ];
  const listening = new ReadyFlag();
  const readiness = new Readiness().add('redis', redisCheck(pipeline.redis)).add('platform', listening.check);
  for (const [name, check] of Object.entries(options.readinessChecks ?? {})) readiness.add(name, check);
  const originPolicy = new OriginPolicy(options.publicUrl);
  let queueDashboard: QueueDashboardHandler | undefined;
  if (options.adminToken !== undefined) {
    // Loaded only when mounted. Every platform's queues are shown: one dashboard for the whole deployment.
    const { createQueueDashboard } = await import('../../src/observability/queue-dashboard.ts');
    const queues = [
      pipeline.queues.requests,
      ...platformSchema.options.flatMap((platform) => [
        pipeline.queues.ingestQueue(platform),
        pipeline.queues.repliesQueue(platform),
      ]),
    ];
    queueDashboard = createQueueDashboard(queues, {
      token: options.adminToken,
      write: options.adminWrite ?? false,
      originPolicy,
      secureCookies: options.publicUrl?.startsWith('https:') ?? false,
    });
  }
  const server = createWebServer({
    pipeline,
    hub,
    modelInfo: new ModelInfoStore(pipeline.redis, pipeline.settings.QUEUE_PREFIX),
    adapterInstance,
    originPolicy,
    access: new WebAccess({
      accessToken: options.accessToken,
      trustedUserHeader: options.trustedUserHeader,
      secureCookies: options.publicUrl?.startsWith('https:') ?? false,
      ...(options.signInAttempts === undefined ? {} : { signInAttempts: options.signInAttempts }),
    }),
    ...(options.defaultLanguage === undefined ? {} : { defaultLanguage: options.defaultLanguage }),
    ops: {
      registry: createMetricsRegistry([
        pipeline.queues.ingestQueue('web'),
        pipeline.queues.requests,
        pipeline.queues.repliesQueue('web'),
      ]),
      readiness,
      metricsToken: options.metricsToken,
    },
    ...(queueDashboard === undefined ? {} : { queueDashboard }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  listening.set();
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async close() {
      listening.set(false);
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(workers.map((worker) => worker.close()));
      await listener.close();
    },
  };
}
