import { Worker } from 'bullmq';
import type { Platform } from '../contracts/platform.ts';
import { ingestQueueName } from '../queue/queue-names.ts';
import { type HeldPictures, heldPictureJobName } from './held-pictures.ts';
import { type IngestDependencies, ingestMessage, rejectFailedIngest } from './ingest-processor.ts';
import type { PipelineContext } from './pipeline-context.ts';
import type { ReceivedMessage } from './receive-message.ts';

/** Options of an ingest worker. */
export interface IngestWorkerOptions {
  /** @defaultValue 8 */
  concurrency?: number;
  /** The platform's held pictures, and how the adapter submits one whose wait is over (it streams its answer). */
  held?: { pictures: HeldPictures; submit(message: ReceivedMessage): Promise<void> };
}

/**
 * Starts a platform's adapter-side ingest worker on `ingest-<platform>`: downloads with its credentials, validates,
 * stores; and answers held pictures whose wait is over.
 */
export function startIngestWorker(
  pipeline: PipelineContext,
  platform: Platform,
  dependencies: IngestDependencies,
  options: IngestWorkerOptions = {},
): Worker {
  const { held } = options;
  const worker = new Worker(
    ingestQueueName(platform),
    async (job, _token, signal) => {
      if (job.name !== heldPictureJobName) return await ingestMessage(pipeline, dependencies, job.data, signal);
      if (held === undefined) throw new Error('a held picture reached an ingest worker that holds none');
      await held.pictures.expire(job.data, (message) => held.submit(message));
    },
    {
      connection: pipeline.redis,
      prefix: pipeline.settings.QUEUE_PREFIX,
      // A job whose worker died (or lost Redis mid-job) is taken over after JOB_LOCK_MS, as model workers' are.
      lockDuration: pipeline.settings.JOB_LOCK_MS,
      stalledInterval: pipeline.settings.JOB_LOCK_MS,
      concurrency: options.concurrency ?? 8,
    },
  );
  worker.on('failed', (job, error) => {
    const final =
      job === undefined ||
      job.attemptsMade >= (job.opts.attempts ?? 1) ||
      error.name.includes('Unrecoverable') ||
      error.name === 'ContractViolationError';
    pipeline.logger.warn({ requestId: job?.id, error: error.message, final }, 'ingest failed');
    if (final) {
      rejectFailedIngest(pipeline, job).catch((rejectError: unknown) =>
        pipeline.logger.error({ requestId: job?.id, error: String(rejectError) }, 'could not reject a failed ingest'),
      );
    }
  });
  worker.on('error', (error) => pipeline.logger.error({ error: error.message }, 'ingest worker error'));
  return worker;
}
