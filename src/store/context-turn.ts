import { z } from 'zod';
import { replyLanguageSchema } from '../contracts/platform.ts';

/** One turn of a channel's conversation as stored under `ctx:<channelKey>` (design §3). */
export const contextTurnSchema = z.object({
  requestId: z.string(),
  role: z.enum(['user', 'assistant']),
  text: z.string(),
  imageSha256: z.string().optional(),
  language: replyLanguageSchema,
  /** Of an assistant turn: why the answer ended (its reply, sent again after a crash, says the same). */
  finishReason: z.enum(['stop', 'length']).optional(),
  /** ISO 8601 time the turn was saved. */
  at: z.string(),
});
/** One stored turn. */
export type ContextTurn = z.infer<typeof contextTurnSchema>;
