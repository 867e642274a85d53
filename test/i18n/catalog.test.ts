import { describe, expect, it } from 'vitest';
import {
  type CatalogKey,
  formatMessage,
  fullCatalogs,
  isCatalogKey,
  noteCatalogs,
  resolveCatalogLocale,
  t,
} from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';
import { detectChineseScript } from '../../src/language/chinese-script.ts';
import { detectLanguage } from '../../src/language/detect-language.ts';

const englishKeys = Object.keys(fullCatalogs.en).sort();

function placeholders(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? '').sort();
}

describe('message catalog', () => {
  it('has every key, non-empty and with the same placeholders, in every complete locale', () => {
    for (const [locale, catalog] of Object.entries(fullCatalogs)) {
      expect(Object.keys(catalog).sort(), locale).toEqual(englishKeys);
      for (const key of englishKeys as CatalogKey[]) {
        const message = catalog[key];
        expect(message.trim().length, `${locale} ${key}`).toBeGreaterThan(0);
        expect(placeholders(message), `${locale} ${key}`).toEqual(placeholders(fullCatalogs.en[key]));
      }
    }
  });

  it('has the design §2/§4 keys', () => {
    for (const key of [
      'instruction.answer_in_language',
      'note.answering_in_english',
      'error.image_too_large',
      'error.image_unreadable',
      'error.unsupported_format',
      'error.empty_message',
      'error.message_too_long',
      'error.model_unavailable',
      'error.timeout',
      'error.internal',
      'error.rate_limited',
      'reset.done',
      'help.text',
      'busy.queued',
      'demo.banner',
    ]) {
      expect(isCatalogKey(key), key).toBe(true);
    }
  });

  it('writes each Chinese catalog in its own script (the zh-TW model instruction is meant for the model)', () => {
    for (const key of englishKeys as CatalogKey[]) {
      const simplified = detectChineseScript(fullCatalogs['zh-CN'][key]);
      expect(simplified === 'traditional', `zh-CN ${key}`).toBe(false);
      if (key === 'instruction.answer_in_language') continue;
      const traditional = detectChineseScript(fullCatalogs['zh-TW'][key]);
      expect(traditional === 'simplified', `zh-TW ${key}`).toBe(false);
    }
    expect(detectChineseScript(t('zh-TW', 'error.image_unreadable'))).toBe('traditional');
    expect(detectChineseScript(t('zh-CN', 'error.image_unreadable'))).toBe('simplified');
  });

  it('has a note in each note locale, written in that language', () => {
    for (const [locale, catalog] of Object.entries(noteCatalogs)) {
      expect(Object.keys(catalog), locale).toEqual(['note.answering_in_english']);
      expect(detectLanguage(catalog['note.answering_in_english']).code, locale).toBe(locale);
    }
  });

  it('resolves language tags to catalog locales', () => {
    expect(resolveCatalogLocale('zh-CN')).toBe('zh-CN');
    expect(resolveCatalogLocale('zh')).toBe('zh-CN');
    expect(resolveCatalogLocale('zh-Hans-SG')).toBe('zh-CN');
    expect(resolveCatalogLocale('zh-HK')).toBe('zh-TW');
    expect(resolveCatalogLocale('zh_TW')).toBe('zh-TW');
    expect(resolveCatalogLocale('zh-Hant')).toBe('zh-TW');
    expect(resolveCatalogLocale('fr-CA')).toBe('fr');
    expect(resolveCatalogLocale('en-GB')).toBe('en');
    expect(resolveCatalogLocale('und')).toBe('en');
    expect(resolveCatalogLocale('')).toBe('en');
  });

  it('falls back to English for keys or languages a catalog does not have', () => {
    expect(t('fr', 'note.answering_in_english')).toBe(noteCatalogs.fr['note.answering_in_english']);
    expect(t('fr', 'error.timeout')).toBe(fullCatalogs.en['error.timeout']);
    expect(t('xx', 'reset.done')).toBe(fullCatalogs.en['reset.done']);
    expect(t('zh-TW', 'reset.done')).toBe(fullCatalogs['zh-TW']['reset.done']);
  });

  it('substitutes parameters and leaves a missing one visible', () => {
    expect(t('en', 'web.channel_default_name', { number: 3 })).toBe('Channel 3');
    expect(t('zh-CN', 'web.channel_default_name', { number: 2 })).toBe('频道 2');
    expect(t('en', 'web.image_attached', { name: 'cat {1}.png' })).toBe('Image ready to send: cat {1}.png');
    expect(t('en', 'web.channel_default_name')).toBe('Channel {number}');
    expect(formatMessage('{a} and {b}', { a: 1 })).toBe('1 and {b}');
  });

  it('renders error keys, unknown ones as an internal error', () => {
    expect(errorMessage('zh-CN', 'image_too_large')).toBe(fullCatalogs['zh-CN']['error.image_too_large']);
    expect(errorMessage('en', 'no_such_key')).toBe(fullCatalogs.en['error.internal']);
  });

  it('gives the web page its strings (no model instructions) in zh-CN, zh-TW or English', () => {
    const chinese = webStrings('zh-TW');
    expect(chinese.language).toBe('zh-TW');
    expect(chinese.strings['web.send']).toBe(fullCatalogs['zh-TW']['web.send']);
    expect(chinese.strings['error.timeout']).toBe(fullCatalogs['zh-TW']['error.timeout']);
    expect(chinese.strings['instruction.answer_in_language']).toBeUndefined();
    expect(webStrings('de-DE').language).toBe('en');
    expect(webStrings('zh').language).toBe('zh-CN');
  });
});
