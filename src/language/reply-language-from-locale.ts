import type { ReplyLanguage } from '../model/chat-model.ts';

const traditionalChineseLocales = /^zh[-_](?:tw|hk|mo|hant)(?:[-_]|$)/i;

/**
 * The reply language a platform locale asks for (`zh-CN`, `zh-TW`, `zh-Hant-HK`, `en-US`, `ja`, ...): Traditional
 * Chinese regions and `zh-Hant` → `zh-TW`, any other Chinese → `zh-CN`, English → `en`; anything else → `undefined`.
 */
export function replyLanguageFromLocale(locale: string | undefined): ReplyLanguage | undefined {
  if (locale === undefined) return undefined;
  const tag = locale.trim();
  if (traditionalChineseLocales.test(tag)) return 'zh-TW';
  if (/^zh(?:[-_]|$)/i.test(tag)) return 'zh-CN';
  if (/^en(?:[-_]|$)/i.test(tag)) return 'en';
  return undefined;
}
