import { z } from 'zod';

/** The platforms the bot talks to. */
export const platformSchema = z.enum(['discord', 'lark', 'web']);
/** A platform name. */
export type Platform = z.infer<typeof platformSchema>;

/** A language the bot replies in. */
export const replyLanguageSchema = z.enum(['zh-CN', 'zh-TW', 'en']);

/** Where on the platform the reply goes (opaque to the pipeline; e.g. `{ channelId, messageId }`). */
export const replyTargetSchema = z.record(z.string(), z.string());
/** Where on the platform the reply goes. */
export type ReplyTarget = z.infer<typeof replyTargetSchema>;

/** Job ids and request ids: `<platform>-<platformMessageId>`, never an integer string, never a `:`. */
export const requestIdSchema = z
  .string()
  .min(3)
  .max(200)
  .regex(/^(discord|lark|web)-[^:\s]+$/, 'must be <platform>-<messageId> without ":" or spaces');

/** Builds the request id for a platform message (`discord-123`); `:` in the message id is replaced by `_`. */
export function requestIdFor(platform: Platform, platformMessageId: string): string {
  return `${platform}-${platformMessageId.replaceAll(':', '_').replaceAll(/\s/g, '_')}`;
}

/** `<platform>:<channelId>` plus `:<threadId>` for threads. */
export const channelKeySchema = z.string().regex(/^(discord|lark|web):[^\s]+$/, 'must be <platform>:<channelId>');

/** Builds a channel key. */
export function channelKeyFor(platform: Platform, channelId: string, threadId?: string): string {
  return threadId === undefined ? `${platform}:${channelId}` : `${platform}:${channelId}:${threadId}`;
}
