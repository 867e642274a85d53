import { z } from 'zod';
import { parseContract } from '../contracts/contract-error.ts';
import { ingestAttachmentSchema } from '../contracts/ingest-job.ts';
import type { Platform } from '../contracts/platform.ts';
import type { PipelineContext } from './pipeline-context.ts';
import { type ReceivedMessage, receivedMessageSchema } from './receive-message.ts';

/** The ingest-queue job that answers a held picture by itself once its wait is over. */
export const heldPictureJobName = 'held-picture';

const heldPictureSchema = z.object({
  /** The platform message id of the picture. */
  id: z.string().min(1),
  /** Its attachments, for the question that takes it. */
  attachments: z.array(ingestAttachmentSchema),
  /** The request it becomes when no question comes; absent: it is only kept for a question (a group picture). */
  alone: receivedMessageSchema.optional(),
});
/** A picture sent without a question, waiting for its sender's next message. */
export type HeldPicture = z.infer<typeof heldPictureSchema>;

const heldJobSchema = z.object({ version: z.literal(1), key: z.string().min(1), id: z.string().min(1) });

// Takes the held picture only if it is still `id` (the wait's claim: a newer picture or a question may have won).
const takeIfSame = `
local value = redis.call('GET', KEYS[1])
if value and cjson.decode(value)['id'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return value
end
return false`;

/**
 * Pictures sent alone, per channel and sender, held in Redis for their sender's question: the next message takes
 * the picture with it, or, after the wait, a delayed job on the platform's ingest queue answers it alone. Both live
 * in Redis, so a picture survives the adapter that received it (any replica's ingest worker runs the job), and
 * exactly one of the question and the job wins.
 */
export class HeldPictures {
  constructor(
    private readonly pipeline: PipelineContext,
    private readonly platform: Platform,
    private readonly waitMs: number,
  ) {}

  private key(holder: string): string {
    return `${this.pipeline.keys.prefix}:held:${this.platform}:${holder}`;
  }

  /** Holds a picture for `holder` (`<channel>:<user>`); returns the one it replaced, which nobody will answer now. */
  async hold(holder: string, picture: HeldPicture): Promise<HeldPicture | undefined> {
    const checked = heldPictureSchema.parse(picture);
    const replaced = await this.pipeline.redis.set(this.key(holder), JSON.stringify(checked), 'PX', this.ttlMs, 'GET');
    await this.pipeline.queues
      .ingestQueue(this.platform)
      .add(heldPictureJobName, heldJobSchema.parse({ version: 1, key: holder, id: checked.id }), {
        jobId: `held-${this.platform}-${checked.id}`,
        delay: this.waitMs,
        attempts: 5,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: true,
        removeOnFail: { age: 86_400 },
      });
    const previous = this.parse(replaced);
    // Our own picture: the SET was carried out but its reply lost (a Redis crash), and ioredis sent it again.
    return previous?.id === checked.id ? undefined : previous;
  }

  /** Puts back a picture taken by a message that turned out to be a redelivery (unless another is held by now). */
  async restore(holder: string, picture: HeldPicture): Promise<void> {
    await this.pipeline.redis.set(this.key(holder), JSON.stringify(picture), 'PX', this.ttlMs, 'NX');
  }

  /** Takes the sender's held picture (the question arrived), if any. */
  async take(holder: string): Promise<HeldPicture | undefined> {
    return this.parse(await this.pipeline.redis.getdel(this.key(holder)));
  }

  /** Answers a held picture alone if no question took it during the wait (the delayed job's processor). */
  async expire(data: unknown, submit: (message: ReceivedMessage) => Promise<void>): Promise<void> {
    const job = parseContract('HeldPictureJob', heldJobSchema, data);
    const value = (await this.pipeline.redis.eval(takeIfSame, 1, this.key(job.key), job.id)) as string | null;
    const picture = this.parse(value);
    if (picture?.alone === undefined) return;
    try {
      await submit(picture.alone);
    } catch (error) {
      await this.restore(job.key, picture);
      throw error; // retried by BullMQ, the picture held again for it
    }
  }

  /** Held pictures outlive their wait a while (the delayed job may run late), then expire. */
  private get ttlMs(): number {
    return this.waitMs * 3 + 60_000;
  }

  private parse(value: string | null | undefined): HeldPicture | undefined {
    return value === null || value === undefined
      ? undefined
      : parseContract('HeldPicture', heldPictureSchema, JSON.parse(value));
  }
}
