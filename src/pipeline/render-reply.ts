import type { ChatReply } from '../contracts/chat-reply.ts';
import { isCatalogKey, t } from '../i18n/catalog.ts';
import { errorMessage } from '../i18n/error-message.ts';

/** The text a user sees for a reply: the localized error, or the answer with its note (when there is one). */
export function renderReply(reply: ChatReply): string {
  if (reply.error !== undefined) return errorMessage(reply.language, reply.error);
  if (reply.noteKey !== undefined && isCatalogKey(reply.noteKey)) {
    return `${t(reply.noteLanguage ?? reply.language, reply.noteKey)}\n\n${reply.text}`;
  }
  return reply.text;
}
