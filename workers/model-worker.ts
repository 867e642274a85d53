import { Worker } from 'bullmq';
import type { ChatModel } from '../src/model/chat-model.ts';
import { instrumentChatModel } from '../src/observability/instrument-chat-model.ts';
import { workerSlots } from '../src/observability/metrics.ts';
import { createDrainProcessor, type DrainOptions } from '../src/pipeline/drain-channel.ts';
import type { PipelineContext } from '../src/pipeline/pipeline-context.ts';
import { requestsQueueName } from '../src/queue/queue-names.ts';
import { ModelInfoStore } from '../src/store/model-info-store.ts';

/** Options of a model worker. */
export interface ModelWorkerOptions extends DrainOptions {
  /**
   * Channels answered at once by this process. @defaultValue the model's batch size (its decode slots), else
   * settings.WORKER_BATCH_SIZE
   */
  concurrency?: number;
  /** How often stalled jobs (of crashed workers) are looked for. @defaultValue the lock duration */
  stalledIntervalMs?: number;
}

/**
 * Starts a model worker on `requests`: each job drains one channel's line (one answer at a time, oldest first);
 * different channels run in parallel, one per decode slot (their decode steps batched by the model's scheduler), and
 * across processes. The job lock (`JOB_LOCK_MS`) is
 * renewed at half its duration while generating (each onnxruntime `session.run` blocks the event loop for one step,
 * so JOB_LOCK_MS must stay above twice the longest single step: see deploy/README.md); a worker that dies loses its
 * lock and the job is taken over. Stalls are allowed several times because a crashing request is capped by its own
 * attempt counter instead.
 */
export function startModelWorker(
  pipeline: PipelineContext,
  model: ChatModel,
  options: ModelWorkerOptions = {},
): Worker {
  const lockDuration = pipeline.settings.JOB_LOCK_MS;
  const workerName = options.workerName ?? `worker-${process.pid}`;
  let closing = false;
  // One channel job per decode slot: the scheduler batches every answer these jobs ask for.
  const concurrency = options.concurrency ?? model.batchSize ?? pipeline.settings.WORKER_BATCH_SIZE;
  // Measured: busy slots, latency, time to first token, tokens/s (src/observability/metrics.ts).
  const measured = instrumentChatModel(model);
  const processor = createDrainProcessor(pipeline, measured, { shouldStop: () => closing, ...options, workerName });
  workerSlots.set(concurrency);
  const worker = new Worker(requestsQueueName, processor, {
    name: workerName,
    connection: pipeline.redis,
    prefix: pipeline.settings.QUEUE_PREFIX,
    concurrency,
    lockDuration,
    stalledInterval: options.stalledIntervalMs ?? lockDuration,
    maxStalledCount: 10,
  });
  new ModelInfoStore(pipeline.redis, pipeline.settings.QUEUE_PREFIX)
    .announce(model.modelId, model.demo)
    .catch((error: unknown) => pipeline.logger.warn({ error: String(error) }, 'could not announce the model'));
  worker.on('failed', (job, error) =>
    pipeline.logger.warn({ channelKey: job?.data?.channelKey, error: error.message }, 'drain job failed (will retry)'),
  );
  worker.on('error', (error) => pipeline.logger.error({ error: error.message }, 'model worker error'));
  worker.on('closing', () => {
    closing = true;
  });
  return worker;
}
