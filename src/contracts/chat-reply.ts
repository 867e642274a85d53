import { z } from 'zod';
import { platformSchema, replyLanguageSchema, replyTargetSchema, requestIdSchema } from './platform.ts';

/** Stable error keys an adapter renders as `error.<key>` from the message catalog in the reply's language. */
export const replyErrorSchema = z.enum([
  'image_too_large',
  'image_unreadable',
  'unsupported_format',
  'image_unsupported',
  'empty_message',
  'message_too_long',
  'model_unavailable',
  'timeout',
  'internal',
  'rate_limited',
]);
/** A stable error key. */
export type ReplyError = z.infer<typeof replyErrorSchema>;

/** The final answer to a request, consumed by the platform's delivery worker from `replies-<platform>`. */
export const chatReplySchema = z.object({
  version: z.literal(1),
  requestId: requestIdSchema,
  platform: platformSchema,
  replyTarget: replyTargetSchema,
  /** The answer text (already converted to Traditional for zh-TW); empty for error replies. */
  text: z.string(),
  language: replyLanguageSchema,
  finishReason: z.enum(['stop', 'length', 'aborted', 'error']),
  error: replyErrorSchema.optional(),
  /** A catalog key the adapter renders with the answer, e.g. `note.answering_in_english`. */
  noteKey: z.string().optional(),
  /** The language to render the note in (the user's own; the catalog falls back to English). */
  noteLanguage: z.string().optional(),
  /** True when the answer came from the random-weight demo model: Discord and Lark show the demo notice with it. */
  demo: z.boolean().optional(),
  /** The channel's request answered before this one: its reply is delivered first, so answers keep their order. */
  after: requestIdSchema.optional(),
});
/** The final answer to a request. */
export type ChatReply = z.infer<typeof chatReplySchema>;
