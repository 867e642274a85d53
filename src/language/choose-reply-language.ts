import type { ReplyLanguage } from '../model/chat-model.ts';
import type { DetectedLanguage } from './detect-language.ts';
import { replyLanguageFromLocale } from './reply-language-from-locale.ts';

/** What the reply language is decided from. */
export interface ReplyLanguageInputs {
  /** The detected language of the message's text (`undefined` or code `und` when there is no usable text). */
  detected?: DetectedLanguage | undefined;
  /** The language the channel's previous reply was in. */
  channelLast?: ReplyLanguage | undefined;
  /** A platform locale (Discord interaction/guild locale, `zh-CN` for feishu, `en` for larksuite). */
  platformHint?: string | undefined;
}

/** The language to answer in, and the note to add when the user wrote a language the bot cannot answer in. */
export interface ReplyLanguageChoice {
  language: ReplyLanguage;
  /** Catalog key of a note to show with the answer (`note.answering_in_english`). */
  noteKey?: 'note.answering_in_english';
  /** The language to render the note in: the user's own (the catalog falls back to English where it has none). */
  noteLanguage?: string;
}

/**
 * Decides the reply language (design §4): the text's own language when it is Chinese or English; English with a
 * note for any other detected language; with no usable text, the channel's last language, then the platform's hint,
 * then English. Chinese text that no character marks as Simplified or Traditional (`zh`) is Traditional when the channel's
 * last reply was, or when the platform hints `zh-TW` and the channel was not already answered in Simplified.
 */
export function chooseReplyLanguage(inputs: ReplyLanguageInputs): ReplyLanguageChoice {
  const { detected, channelLast } = inputs;
  const hinted = replyLanguageFromLocale(inputs.platformHint);
  if (detected !== undefined && detected.code !== 'und') {
    if (detected.code === 'zh') {
      const traditionalContext = channelLast === 'zh-TW' || (channelLast !== 'zh-CN' && hinted === 'zh-TW');
      return { language: traditionalContext ? 'zh-TW' : 'zh-CN' };
    }
    if (detected.reply !== undefined) return { language: detected.reply };
    return { language: 'en', noteKey: 'note.answering_in_english', noteLanguage: detected.code };
  }
  return { language: channelLast ?? hinted ?? 'en' };
}
