import type { Job } from 'bullmq';
import type { ChatReply } from '../contracts/chat-reply.ts';
import type { Platform } from '../contracts/platform.ts';
import { replyJobId } from '../queue/pipeline-queues.ts';
import type { PipelineContext } from './pipeline-context.ts';

/**
 * A parked reply is checked again after this long even if nobody wakes it (a crash between delivery and wake-up): long,
 * as every recheck of a reply still waiting takes a delivery slot from replies that could go out.
 */
const recheckMs = 30_000;
const waiterTtlSeconds = 86_400;

/**
 * Keeps a channel's replies in order on the platform without polling: a reply whose previous reply (`after`) is still
 * on its way is parked in BullMQ's delayed set and registered as that reply's waiter; delivering (or giving up on) the
 * previous reply promotes it at once. Each reply is thus taken at most about twice, however long the line.
 */
export class DeliveryOrder {
  constructor(
    private readonly pipeline: PipelineContext,
    private readonly orderWaitMs: number,
  ) {}

  /**
   * Parks the job when the channel's previous reply is not delivered yet; true when it did (the caller then throws
   * BullMQ's DelayedError: no attempt is used up). Past `orderWaitMs` the reply goes out anyway: the answer matters
   * more than its place.
   */
  async park(job: Job, token: string | undefined, reply: ChatReply): Promise<boolean> {
    const { after } = reply;
    if (after === undefined) return false;
    const { queues, redis, keys, logger } = this.pipeline;
    if (await queues.replyDone(reply.platform, after)) return false;
    const waitedMs = Date.now() - job.timestamp;
    if (waitedMs > this.orderWaitMs) {
      logger.warn(
        { requestId: reply.requestId, after, waitedMs },
        'the previous reply of the channel is still undelivered: posting this one anyway',
      );
      return false;
    }
    await redis.set(keys.replyWaiter(after), reply.requestId, 'EX', waiterTtlSeconds);
    // Checked again after registering: a previous reply finished in between would never wake this one.
    if (await queues.replyDone(reply.platform, after)) return false;
    // Woken by the previous reply; else looked at again after recheckMs, or when the order wait runs out.
    await job.moveToDelayed(Date.now() + Math.min(recheckMs, this.orderWaitMs - waitedMs + 10), token);
    return true;
  }

  /** Wakes the reply parked behind this one (call once its job is completed, or failed for good). */
  async release(platform: Platform, requestId: string): Promise<void> {
    const { queues, redis, keys } = this.pipeline;
    const waiter = await redis.get(keys.replyWaiter(requestId));
    if (waiter === null) return;
    const job = await queues.repliesQueue(platform).getJob(replyJobId(waiter));
    // It may still be on its way into the delayed set (between its second check and its move): try a few times.
    for (let attempt = 0; job !== undefined && attempt < 5; attempt += 1) {
      const state = await job.getState();
      if (state === 'delayed') {
        await job.promote().catch(() => {}); // already promoted by another replica
        break;
      }
      if (state !== 'active') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await redis.del(keys.replyWaiter(requestId));
  }
}
