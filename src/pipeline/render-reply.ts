import type { ChatReply } from '../contracts/chat-reply.ts';
import { isCatalogKey, t } from '../i18n/catalog.ts';
import { errorMessage } from '../i18n/error-message.ts';

/** Options of {@link renderReply}. */
export interface RenderReplyOptions {
  /** Append the localized demo notice to a demo model's answer (platforms without the web page's banner). */
  demoNotice?: boolean;
}

/** The text a user sees for a reply: the localized error, or the answer with its note (when there is one). */
export function renderReply(reply: ChatReply, options: RenderReplyOptions = {}): string {
  if (reply.error !== undefined) return errorMessage(reply.language, reply.error);
  const answer =
    options.demoNotice === true && reply.demo === true
      ? `${reply.text}\n\n⚠️ ${t(reply.language, 'demo.banner')}`
      : reply.text;
  if (reply.noteKey !== undefined && isCatalogKey(reply.noteKey)) {
    return `${t(reply.noteLanguage ?? reply.language, reply.noteKey)}\n\n${answer}`;
  }
  return answer;
}
