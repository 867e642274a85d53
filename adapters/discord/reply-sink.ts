import { type REST, Routes } from 'discord.js';
import type { ReplyTarget } from '../../src/contracts/platform.ts';
import { messageCreateBody, messageEditBody } from './encode.ts';

/** Where the parts of one answer go: messages in a channel, or an interaction's response and follow-ups. */
export interface ReplySink {
  /** Creates part `index` (idempotently) and returns its message id. */
  create(index: number, content: string): Promise<string>;
  /** Replaces the text of a part created before. */
  edit(messageId: string, content: string): Promise<void>;
  /** Removes a part no longer needed (the final answer came out shorter than the stream). */
  remove(messageId: string): Promise<void>;
}

/** The reply target of a message the bot answers: `{ kind: 'message', channelId, messageId }`. */
export function messageTarget(channelId: string, messageId: string, extra: Record<string, string> = {}): ReplyTarget {
  return { kind: 'message', channelId, messageId, ...extra };
}

/** The reply target of a slash command: its application and interaction token (valid 15 minutes). */
export function interactionTarget(
  applicationId: string,
  token: string,
  channelId: string,
  extra: Record<string, string> = {},
): ReplyTarget {
  return { kind: 'interaction', applicationId, token, channelId, ...extra };
}

/** The sink for a reply target, over discord.js's REST client. */
export function replySinkFor(rest: REST, target: ReplyTarget, requestId: string): ReplySink {
  const channelId = target['channelId'] ?? '';
  if (target['kind'] === 'interaction') {
    const applicationId = target['applicationId'] ?? '';
    const token = target['token'] ?? '';
    return {
      async create(index, content) {
        if (index === 0) {
          await rest.patch(Routes.webhookMessage(applicationId, token, '@original'), {
            body: messageEditBody(content),
            auth: false,
          });
          return '@original';
        }
        const created = (await rest.post(Routes.webhook(applicationId, token), {
          body: messageEditBody(content),
          auth: false,
          query: new URLSearchParams({ wait: 'true' }),
        })) as { id: string };
        return created.id;
      },
      async edit(messageId, content) {
        await rest.patch(Routes.webhookMessage(applicationId, token, messageId), {
          body: messageEditBody(content),
          auth: false,
        });
      },
      async remove(messageId) {
        await rest.delete(Routes.webhookMessage(applicationId, token, messageId), { auth: false });
      },
    };
  }
  const replyTo = { channelId, messageId: target['messageId'] ?? '' };
  return {
    async create(index, content) {
      const created = (await rest.post(Routes.channelMessages(channelId), {
        body: messageCreateBody(content, requestId, index, replyTo),
      })) as { id: string };
      return created.id;
    },
    async edit(messageId, content) {
      await rest.patch(Routes.channelMessage(channelId, messageId), { body: messageEditBody(content) });
    },
    async remove(messageId) {
      await rest.delete(Routes.channelMessage(channelId, messageId));
    },
  };
}
