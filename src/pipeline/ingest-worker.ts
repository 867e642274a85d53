import { Worker } from 'bullmq';
import type { Platform } from '../contracts/platform.ts';
import { ingestQueueName } from '../queue/queue-names.ts';
import { type IngestDependencies, ingestMessage, rejectFailedIngest } from './ingest-processor.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** Starts a platform's adapter-side ingest worker on `ingest-<platform>` (downloads with its credentials, validates, stores). */
export function startIngestWorker(
  pipeline: PipelineContext,
  platform: Platform,
  dependencies: IngestDependencies,
  options: { concurrency?: number } = {},
): Worker {
  const worker = new Worker(
    ingestQueueName(platform),
    async (job, _token, signal) => await ingestMessage(pipeline, dependencies, job.data, signal),
    {
      connection: pipeline.redis,
      prefix: pipeline.settings.QUEUE_PREFIX,
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
