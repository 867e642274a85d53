import { DelayedError, Worker } from 'bullmq';
import { type ChatReply, chatReplySchema } from '../contracts/chat-reply.ts';
import { parseContract } from '../contracts/contract-error.ts';
import type { Platform } from '../contracts/platform.ts';
import { platformErrors, repliesDelivered } from '../observability/metrics.ts';
import { repliesQueueName } from '../queue/queue-names.ts';
import { DeliveryOrder } from './delivery-order.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** Posts a final reply on the platform; should be idempotent by `reply.requestId` (Discord nonce, Lark uuid). */
export type DeliverReply = (reply: ChatReply) => Promise<void>;

/** Tuning of a delivery worker. */
export interface DeliveryOptions {
  /** Replies posted at once (of different channels: one channel's replies wait for each other); posting is mostly
   * waiting on the platform, whose SDK keeps to its rate limits. @defaultValue 16 */
  concurrency?: number;
  /**
   * How long a reply waits for the channel's previous reply (its own retries included) before it is posted anyway:
   * order is given up rather than the answer. @defaultValue 300000
   */
  orderWaitMs?: number;
}

/**
 * Starts the platform's delivery worker on `replies-<platform>`: a channel's replies are posted in their order (each
 * waits for its `after`), failed posts retry with backoff.
 */
export function startDeliveryWorker(
  pipeline: PipelineContext,
  platform: Platform,
  deliver: DeliverReply,
  options: DeliveryOptions = {},
): Worker {
  const order = new DeliveryOrder(pipeline, options.orderWaitMs ?? 300_000);
  const worker = new Worker(
    repliesQueueName(platform),
    async (job, token) => {
      const reply = parseContract('ChatReply', chatReplySchema, job.data);
      if (await order.park(job, token, reply)) throw new DelayedError();
      await deliver(reply);
      repliesDelivered.inc({ platform, outcome: reply.error === undefined ? 'answer' : 'error' });
    },
    {
      connection: pipeline.redis,
      prefix: pipeline.settings.QUEUE_PREFIX,
      concurrency: options.concurrency ?? 16,
      // A post whose worker died (or lost Redis mid-post) is taken over after JOB_LOCK_MS: posts are idempotent.
      lockDuration: pipeline.settings.JOB_LOCK_MS,
      stalledInterval: pipeline.settings.JOB_LOCK_MS,
    },
  );
  const release = (requestId: unknown) => {
    if (typeof requestId !== 'string') return;
    order.release(platform, requestId).catch((error: unknown) => {
      pipeline.logger.warn(
        { requestId, error: (error as Error).message },
        'could not wake the next reply (it rechecks)',
      );
    });
  };
  worker.on('completed', (job) => release(job.data?.requestId));
  worker.on('failed', (job, error) => {
    platformErrors.inc({ platform, operation: 'deliver' });
    pipeline.logger.warn({ requestId: job?.data?.requestId, error: error.message }, 'delivery failed');
    // Given up for good: the next reply of the channel goes on without it.
    if (job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)) release(job.data?.requestId);
  });
  worker.on('error', (error) => pipeline.logger.error({ error: error.message }, 'delivery worker error'));
  return worker;
}
