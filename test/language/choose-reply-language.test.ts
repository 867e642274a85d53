import { describe, expect, it } from 'vitest';
import { chooseReplyLanguage } from '../../src/language/choose-reply-language.ts';
import { detectLanguage } from '../../src/language/detect-language.ts';
import { replyLanguageFromLocale } from '../../src/language/reply-language-from-locale.ts';

describe('chooseReplyLanguage', () => {
  it('answers in the language of Chinese or English text, whatever the channel did before', () => {
    expect(chooseReplyLanguage({ detected: detectLanguage('這是什麼動物？'), channelLast: 'en' })).toEqual({
      language: 'zh-TW',
    });
    expect(chooseReplyLanguage({ detected: detectLanguage('What animal is this?'), channelLast: 'zh-CN' })).toEqual({
      language: 'en',
    });
  });

  it('answers other languages in English with a note in the user language', () => {
    expect(chooseReplyLanguage({ detected: detectLanguage('これは何ですか？'), channelLast: 'zh-CN' })).toEqual({
      language: 'en',
      noteKey: 'note.answering_in_english',
      noteLanguage: 'ja',
    });
  });

  it('falls back for text-less messages: channel last language, then platform hint, then English', () => {
    const none = detectLanguage('');
    expect(chooseReplyLanguage({ detected: none, channelLast: 'zh-TW', platformHint: 'en-US' })).toEqual({
      language: 'zh-TW',
    });
    expect(chooseReplyLanguage({ detected: none, platformHint: 'zh-CN' })).toEqual({ language: 'zh-CN' });
    expect(chooseReplyLanguage({ detected: none, platformHint: 'zh-HK' })).toEqual({ language: 'zh-TW' });
    expect(chooseReplyLanguage({ detected: none, platformHint: 'ja' })).toEqual({ language: 'en' });
    expect(chooseReplyLanguage({ detected: undefined })).toEqual({ language: 'en' });
    expect(chooseReplyLanguage({})).toEqual({ language: 'en' });
  });

  it('lets script-neutral Chinese follow a Traditional channel or hint', () => {
    const neutral = detectLanguage('你好');
    expect(chooseReplyLanguage({ detected: neutral })).toEqual({ language: 'zh-CN' });
    expect(chooseReplyLanguage({ detected: neutral, channelLast: 'zh-TW' })).toEqual({ language: 'zh-TW' });
    expect(chooseReplyLanguage({ detected: neutral, platformHint: 'zh-TW' })).toEqual({ language: 'zh-TW' });
    expect(chooseReplyLanguage({ detected: neutral, channelLast: 'zh-CN', platformHint: 'zh-TW' })).toEqual({
      language: 'zh-CN',
    });
  });
});

describe('replyLanguageFromLocale', () => {
  it.each([
    ['zh-CN', 'zh-CN'],
    ['zh', 'zh-CN'],
    ['zh-Hans-SG', 'zh-CN'],
    ['zh-TW', 'zh-TW'],
    ['zh_HK', 'zh-TW'],
    ['zh-Hant', 'zh-TW'],
    ['en-GB', 'en'],
    ['fr', undefined],
    [undefined, undefined],
  ])('%s → %s', (locale, expected) => {
    expect(replyLanguageFromLocale(locale)).toBe(expected);
  });
});
