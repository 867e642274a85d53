import { DelayedError, type Job, Worker } from 'bullmq';
import { type ChatReply, chatReplySchema } from '../contracts/chat-reply.ts';
import { parseContract } from '../contracts/contract-error.ts';
import type { Platform } from '../contracts/platform.ts';
import { platformErrors, repliesDelivered } from '../observability/metrics.ts';
import { repliesQueueName } from '../queue/queue-names.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** Posts a final reply on the platform; should be idempotent by `reply.requestId` (Discord nonce, Lark uuid). */
export type DeliverReply = (reply: ChatReply) => Promise<void>;

/** Tuning of a delivery worker. */
export interface DeliveryOptions {
  /** Replies posted at once (of different channels: one channel's replies wait for each other). @defaultValue 4 */
  concurrency?: number;
  /**
   * How long a reply waits for the channel's previous reply (its own retries included) before it is posted anyway:
   * order is given up rather than the answer. @defaultValue 300000
   */
  orderWaitMs?: number;
}

/**
 * Moves the job back to delayed while the channel's previous reply (`reply.after`) is still on its way; true when
 * it did (the caller then throws BullMQ's DelayedError: no attempt is used up).
 */
async function waitedForPrevious(
  pipeline: PipelineContext,
  job: Job,
  token: string | undefined,
  reply: ChatReply,
  orderWaitMs: number,
): Promise<boolean> {
  if (reply.after === undefined || (await pipeline.queues.replyDone(reply.platform, reply.after))) return false;
  const waitedMs = Date.now() - job.timestamp;
  if (waitedMs > orderWaitMs) {
    pipeline.logger.warn(
      { requestId: reply.requestId, after: reply.after, waitedMs },
      'the previous reply of the channel is still undelivered: posting this one anyway',
    );
    return false;
  }
  // Checked again soon at first, then at most once a second.
  await job.moveToDelayed(Date.now() + Math.min(1000, Math.max(50, waitedMs / 10)), token);
  return true;
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
  const orderWaitMs = options.orderWaitMs ?? 300_000;
  const worker = new Worker(
    repliesQueueName(platform),
    async (job, token) => {
      const reply = parseContract('ChatReply', chatReplySchema, job.data);
      if (await waitedForPrevious(pipeline, job, token, reply, orderWaitMs)) throw new DelayedError();
      await deliver(reply);
      repliesDelivered.inc({ platform, outcome: reply.error === undefined ? 'answer' : 'error' });
    },
    { connection: pipeline.redis, prefix: pipeline.settings.QUEUE_PREFIX, concurrency: options.concurrency ?? 4 },
  );
  worker.on('failed', (job, error) => {
    platformErrors.inc({ platform, operation: 'deliver' });
    pipeline.logger.warn({ requestId: job?.data?.requestId, error: error.message }, 'delivery failed');
  });
  worker.on('error', (error) => pipeline.logger.error({ error: error.message }, 'delivery worker error'));
  return worker;
}
