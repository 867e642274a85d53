import type { Worker } from 'bullmq';
import { inject } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import type { PipelineContext, PipelineSettings } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { RecordingChatModel } from './recording-chat-model.ts';
import type { TestRedis } from './redis.ts';
import { SseClient } from './sse-client.ts';
import { testPipeline } from './test-pipeline.ts';

/**
 * The web chat path as a test drives it: a pipeline on the test's Redis, a model worker around the real tiny model
 * (calls recorded), and the web adapter on a free port.
 */
export class WebChatStack {
  private readonly streams: SseClient[] = [];

  private constructor(
    readonly pipeline: PipelineContext,
    readonly model: RecordingChatModel,
    readonly worker: Worker,
    readonly web: WebAdapter,
  ) {}

  /**
   * @param settings - pipeline settings over the test defaults
   * @param options.concurrency - the model worker's concurrency (default 2)
   * @param options.embeddingCache - back the model's embedding cache with Redis (default true)
   * @param options.modelDirectory - the model directory (default: the shared tiny model)
   */
  static async start(
    redis: TestRedis,
    settings: Partial<PipelineSettings>,
    options: { concurrency?: number; embeddingCache?: boolean; modelDirectory?: string } = {},
  ): Promise<WebChatStack> {
    const pipeline = testPipeline(redis.connection, redis.prefix, settings);
    const model = new RecordingChatModel(
      await ZiyaChatModel.load(options.modelDirectory ?? inject('tinyModelDir'), {
        executionProvider: 'cpu',
        threads: 1,
        ...(options.embeddingCache === false ? {} : { embeddingCache: pipeline.embeddings }),
      }),
    );
    const worker = startModelWorker(pipeline, model, { concurrency: options.concurrency ?? 2 });
    const web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
    return new WebChatStack(pipeline, model, worker, web);
  }

  /** Opens a channel's event stream (closed with the stack). */
  async openChannel(channel: string): Promise<SseClient> {
    const stream = new SseClient(`${this.web.url}/api/channels/${channel}/events`);
    this.streams.push(stream);
    await stream.ready();
    return stream;
  }

  /** Posts a JSON message to a channel. */
  async post(
    channel: string,
    body: Record<string, unknown>,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${this.web.url}/api/channels/${channel}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  /** Closes the streams, the web adapter, the worker, the model and the queues. */
  async close(): Promise<void> {
    for (const stream of this.streams) stream.close();
    await this.web.close();
    await this.worker.close();
    await this.model.close();
    await this.pipeline.queues.close();
  }
}
