import { z } from 'zod';
import { type IngestJob, ingestAttachmentSchema } from '../contracts/ingest-job.ts';
import { platformSchema, replyTargetSchema, requestIdFor } from '../contracts/platform.ts';
import { duplicatesDropped, messagesRateLimited } from '../observability/metrics.ts';
import { receiptTakeOverMs } from '../store/receipt-store.ts';
import { parseCommand } from '../text/parse-command.ts';
import { rawTextLimit } from '../text/validate-text.ts';
import { ingestMessage, rejectMessage } from './ingest-processor.ts';
import type { PipelineContext } from './pipeline-context.ts';

/**
 * A message as an adapter decoded it, before anything is stored (a schema too: a held picture keeps one in Redis for
 * when its wait is over).
 */
export const receivedMessageSchema = z.object({
  platform: platformSchema,
  platformMessageId: z.string().min(1),
  channelKey: z.string().min(1),
  replyTarget: replyTargetSchema,
  user: z.object({ id: z.string(), name: z.string() }),
  text: z.string(),
  attachments: z.array(ingestAttachmentSchema),
  languageHint: z.string().optional(),
  adapterInstance: z.string(),
  receivedAt: z.coerce.date().optional(),
});
/** A message as an adapter decoded it. */
export type ReceivedMessage = z.infer<typeof receivedMessageSchema>;

/** What became of a received message. */
export interface ReceiveResult {
  requestId: string;
  /** True when this platform message was received before (a redelivery): nothing was enqueued. */
  duplicate: boolean;
  /**
   * Set when the sender or the channel is over its rate limit: `notified` = answered (in order) with the localized
   * `rate_limited` reply, the first refusal of its window; `dropped` = not answered at all (logged).
   */
  rateLimited?: 'notified' | 'dropped';
}

/** What a caller does once its message is admitted. */
export interface ReceiveOptions {
  /**
   * Called when the message is admitted (new, within the rate limits), before it joins its channel's line: where an
   * adapter stores what the message carries (an upload), so a duplicate or a refused message stores nothing. A throw
   * un-receives the message.
   */
  onAdmitted?: (requestId: string) => Promise<void>;
}

/**
 * Accepts a message once: a receipt on its request id (TTL ≥ 8 h, shared by every adapter replica), the per-user and
 * per-channel rate limits, a place in its channel's line, and an `ingest` job when it has attachments. Returns fast:
 * downloads happen in the ingest worker. Nothing is written for a duplicate or a dropped message: a flood of either
 * costs Redis nothing.
 */
export async function receiveMessage(
  pipeline: PipelineContext,
  message: ReceivedMessage,
  options: ReceiveOptions = {},
): Promise<ReceiveResult> {
  const requestId = requestIdFor(message.platform, message.platformMessageId);
  const duplicate = (): ReceiveResult => {
    pipeline.logger.info({ requestId }, 'duplicate message dropped');
    duplicatesDropped.inc({ platform: message.platform });
    return { requestId, duplicate: true };
  };
  // A redelivery is dropped here, before it counts against a limit (read only: the receipt is written on admission).
  if (await receivedElsewhere(pipeline, requestId)) return duplicate();
  // Commands (/reset, /help) never reach the model and are exempt: a user told to slow down can still start over, and
  // a slash command is always answered. The limiter is safe to ask twice for one message (an admitted member stays
  // admitted), so two replicas racing on one redelivery both pass it and the receipt below picks one.
  const decision =
    parseCommand(message.text) !== undefined
      ? ({ allowed: true } as const)
      : await pipeline.rateLimiter.admit(`${message.platform}:${message.user.id}`, message.channelKey, requestId);
  if (!decision.allowed && !decision.notify) {
    pipeline.logger.info(
      { requestId, channelKey: message.channelKey, scope: decision.scope },
      'rate limited: message dropped (this window was already told to slow down)',
    );
    messagesRateLimited.inc({ platform: message.platform, outcome: 'dropped' });
    return { requestId, duplicate: false, rateLimited: 'dropped' };
  }
  // Pending until the message is enqueued: a receiver killed in between leaves it for the redelivery to take over.
  let receipt = await pipeline.receipts.claim(requestId);
  if (receipt === undefined && !(await receivedElsewhere(pipeline, requestId))) {
    receipt = await pipeline.receipts.claim(requestId);
  }
  if (receipt === undefined) return duplicate();
  try {
    if (decision.allowed) await options.onAdmitted?.(requestId);
    await pipeline.line.join(message.channelKey, requestId);
    const job: IngestJob = {
      version: 1,
      id: requestId,
      platform: message.platform,
      channelKey: message.channelKey,
      replyTarget: message.replyTarget,
      user: message.user,
      // A text beyond what is worth checking is refused by ingest anyway: keep only enough to refuse it (and to detect
      // its language), never megabytes in a queued job.
      text: message.text.slice(0, rawTextLimit(pipeline.settings.TEXT_MAX_CHARACTERS) + 1),
      attachments: message.attachments,
      ...(message.languageHint === undefined ? {} : { languageHint: message.languageHint }),
      receivedAt: (message.receivedAt ?? new Date()).toISOString(),
      adapterInstance: message.adapterInstance,
    };
    // Ingest exists to download and validate images; a text-only message is validated here and goes straight to
    // its channel's line (one queue hop less).
    if (!decision.allowed) {
      // The "slow down" reply takes the message's place in its channel's line: nothing is downloaded or generated.
      pipeline.logger.info({ requestId, channelKey: message.channelKey, scope: decision.scope }, 'rate limited');
      messagesRateLimited.inc({ platform: message.platform, outcome: 'notified' });
      await rejectMessage(pipeline, job, 'rate_limited');
    } else if (job.attachments.length === 0) await ingestMessage(pipeline, {}, job);
    else await pipeline.queues.addIngest(job);
    await pipeline.receipts.settle(requestId, receipt);
  } catch (error) {
    // Not enqueued: forget the receipt so the platform's redelivery (or the user's retry) gets through.
    await pipeline.line.leave(message.channelKey, requestId).catch(() => {});
    await pipeline.receipts.forget(requestId).catch(() => {});
    throw error;
  }
  return { requestId, duplicate: false, ...(decision.allowed ? {} : { rateLimited: 'notified' as const }) };
}

/**
 * True when another receiver has the message: its receipt is settled, or stays pending with a live receiver. A
 * pending receipt is waited on (a redelivery can come within milliseconds of its receiver dying: a restarted
 * Discord adapter RESUMEs and gets the replay at once) until it settles or is old enough to take over.
 */
async function receivedElsewhere(pipeline: PipelineContext, requestId: string): Promise<boolean> {
  const deadline = Date.now() + receiptTakeOverMs + 500;
  while (await pipeline.receipts.isTaken(requestId)) {
    if ((await pipeline.receipts.isSettled(requestId)) || Date.now() > deadline) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
