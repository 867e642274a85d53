import { z } from 'zod';
import { replyErrorSchema } from './chat-reply.ts';
import { chatRequestSchema } from './chat-request.ts';

/**
 * What the ingest worker leaves under `req:<requestId>` for the channel's drain job: the validated request, or the
 * request with the reason it was rejected (answered in order with a localized error instead of the model).
 */
export const channelEntrySchema = z.object({
  version: z.literal(1),
  request: chatRequestSchema,
  rejection: replyErrorSchema.optional(),
});
/** A request waiting in its channel's line. */
export type ChannelEntry = z.infer<typeof channelEntrySchema>;

/** The `requests` job: drain the channel's line, one request at a time, oldest first. */
export const drainJobSchema = z.object({
  version: z.literal(1),
  channelKey: z.string().min(1),
});
/** The `requests` job data. */
export type DrainJob = z.infer<typeof drainJobSchema>;

/** Data a model worker publishes as job progress while it streams an answer. */
export const progressSchema = z.object({
  version: z.literal(1),
  requestId: z.string(),
  platform: z.string(),
  channelKey: z.string(),
  adapterInstance: z.string(),
  /** The worker generating it (BullMQ worker name), for operators and take-over tests. */
  worker: z.string().optional(),
  text: z.string(),
});
/** Streamed partial answer. */
export type Progress = z.infer<typeof progressSchema>;
