import type { Worker } from 'bullmq';
import type { Logger } from '../observability/logger.ts';

/**
 * Closes a BullMQ worker gracefully: it takes no new job at once and its active jobs may finish for `graceMs`; after
 * that they are cancelled through their processors' abort signal. A cancelled drain job fails with a retry (its
 * request stays at the head of its channel's line, no reply was enqueued), so another worker answers it: nothing is
 * lost and nothing is answered twice. Resolves when the worker has closed.
 */
export async function closeWorkerWithin(worker: Worker, graceMs: number, logger: Logger): Promise<void> {
  const timer = setTimeout(() => {
    logger.warn({ graceMs }, 'shutdown grace period over: handing the active generations back to the queue');
    worker.cancelAllJobs('the worker is shutting down');
  }, graceMs);
  try {
    await worker.close();
  } finally {
    clearTimeout(timer);
  }
}
