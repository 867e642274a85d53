import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type DrainJob, drainJobSchema } from '../contracts/channel-entry.ts';
import { type ChatReply, chatReplySchema } from '../contracts/chat-reply.ts';
import { type IngestJob, ingestJobSchema } from '../contracts/ingest-job.ts';
import type { Platform } from '../contracts/platform.ts';
import { ingestQueueName, repliesQueueName, requestsQueueName } from './queue-names.ts';

// Kept long enough that a re-added job id (a redelivery, a retried worker) is still recognised as a duplicate.
const keepFinished = { removeOnComplete: { age: 86_400, count: 10_000 }, removeOnFail: { age: 7 * 86_400 } } as const;

/** The job id of a request's final reply. */
export function replyJobId(requestId: string): string {
  return `reply-${requestId}`;
}

/** The BullMQ queues of the pipeline, with contract-checked enqueue helpers. */
export class PipelineQueues {
  readonly requests: Queue;
  private readonly ingests = new Map<Platform, Queue>();
  private readonly replies = new Map<Platform, Queue>();

  /**
   * @param onError - receives the queues' connection errors (while Redis is away); without a listener BullMQ would
   *   print each one raw to stderr
   */
  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
    private readonly onError: (error: Error) => void = () => {},
  ) {
    this.requests = this.watched(new Queue(requestsQueueName, { connection, prefix }));
  }

  private watched(queue: Queue): Queue {
    queue.on('error', this.onError);
    return queue;
  }

  /** The ingest queue of a platform. */
  ingestQueue(platform: Platform): Queue {
    let queue = this.ingests.get(platform);
    if (queue === undefined) {
      queue = this.watched(new Queue(ingestQueueName(platform), { connection: this.connection, prefix: this.prefix }));
      this.ingests.set(platform, queue);
    }
    return queue;
  }

  /** The replies queue of a platform. */
  repliesQueue(platform: Platform): Queue {
    let queue = this.replies.get(platform);
    if (queue === undefined) {
      queue = this.watched(new Queue(repliesQueueName(platform), { connection: this.connection, prefix: this.prefix }));
      this.replies.set(platform, queue);
    }
    return queue;
  }

  /** Enqueues a received message for ingest (job id = request id: a duplicate add is a no-op). */
  async addIngest(job: IngestJob): Promise<void> {
    const data = ingestJobSchema.parse(job);
    await this.ingestQueue(data.platform).add('ingest', data, {
      jobId: data.id,
      attempts: 5,
      backoff: { type: 'exponential', delay: 500 },
      ...keepFinished,
    });
  }

  /**
   * Makes sure the channel has a drain job. Deduplicated by channel with `keepLastIfActive`: while the channel's
   * drain job runs, one follow-up job is kept and started when it ends, so a request that joins just as the drain job
   * finds the line empty is never stranded, and no two drain jobs of one channel ever run at once.
   */
  async addDrain(channelKey: string): Promise<void> {
    const data: DrainJob = drainJobSchema.parse({ version: 1, channelKey });
    await this.requests.add('drain', data, {
      deduplication: { id: channelKey.replaceAll(':', '|'), keepLastIfActive: true },
      attempts: 20,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 86_400 },
    });
  }

  /** Enqueues a final reply (job id `reply-<requestId>`: enqueueing the same reply twice is a no-op). */
  async addReply(reply: ChatReply): Promise<void> {
    const data = chatReplySchema.parse(reply);
    await this.repliesQueue(data.platform).add('reply', data, {
      jobId: replyJobId(data.requestId),
      attempts: 8,
      backoff: { type: 'exponential', delay: 1000 },
      ...keepFinished,
    });
  }

  /**
   * True once the request's reply left the replies queue: delivered, failed for good, or gone (expired, or never
   * enqueued). False while it waits, is delayed for a retry, or is being delivered.
   */
  async replyDone(platform: Platform, requestId: string): Promise<boolean> {
    const state = await this.repliesQueue(platform).getJobState(replyJobId(requestId));
    return state === 'completed' || state === 'failed' || state === 'unknown';
  }

  /** Closes every queue this object opened. */
  async close(): Promise<void> {
    await Promise.all([
      ...[...this.ingests.values()].map((q) => q.close()),
      this.requests.close(),
      ...[...this.replies.values()].map((q) => q.close()),
    ]);
  }
}
