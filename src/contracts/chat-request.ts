import { z } from 'zod';
import { imageRefSchema } from './image-ref.ts';
import { channelKeySchema, platformSchema, replyTargetSchema, requestIdSchema } from './platform.ts';

/** The user who wrote a message. */
export const chatUserSchema = z.object({ id: z.string().min(1), name: z.string() });

/** One user message, its images already validated and stored: what a model worker answers. */
export const chatRequestSchema = z.object({
  version: z.literal(1),
  id: requestIdSchema,
  platform: platformSchema,
  channelKey: channelKeySchema,
  replyTarget: replyTargetSchema,
  user: chatUserSchema,
  text: z.string(),
  images: z.array(imageRefSchema),
  /** The platform's idea of the user's language (Discord locale, Lark domain, the web page's choice). */
  languageHint: z.string().min(2).optional(),
  /** ISO 8601 time the adapter received the message. */
  receivedAt: z.iso.datetime(),
  /** The adapter process that received it (progress events are routed to it). */
  adapterInstance: z.string().min(1),
});
/** One user message, ready for a model worker. */
export type ChatRequest = z.infer<typeof chatRequestSchema>;
