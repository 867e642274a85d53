import { Worker } from 'bullmq';
import { type ChatReply, chatReplySchema } from '../contracts/chat-reply.ts';
import { parseContract } from '../contracts/contract-error.ts';
import type { Platform } from '../contracts/platform.ts';
import { platformErrors, repliesDelivered } from '../observability/metrics.ts';
import { repliesQueueName } from '../queue/queue-names.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** Posts a final reply on the platform; should be idempotent by `reply.requestId` (Discord nonce, Lark uuid). */
export type DeliverReply = (reply: ChatReply) => Promise<void>;

/** Starts the platform's delivery worker on `replies-<platform>`; failed posts retry with backoff. */
export function startDeliveryWorker(
  pipeline: PipelineContext,
  platform: Platform,
  deliver: DeliverReply,
  options: { concurrency?: number } = {},
): Worker {
  const worker = new Worker(
    repliesQueueName(platform),
    async (job) => {
      const reply = parseContract('ChatReply', chatReplySchema, job.data);
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
