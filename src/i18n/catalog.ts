import { type Catalog, en, type NoteCatalog } from './locales/en.ts';
import { de, es, fr, it, ja, ko, pt, ru, vi } from './locales/other-languages.ts';
import { zhCN } from './locales/zh-cn.ts';
import { zhTW } from './locales/zh-tw.ts';

/** A key of the message catalog. */
export type CatalogKey = keyof Catalog;

/** Values put into a message's `{name}` placeholders. */
export type MessageParams = Readonly<Record<string, string | number>>;

/** The complete catalogs, by locale. */
export const fullCatalogs = { en, 'zh-CN': zhCN, 'zh-TW': zhTW } as const satisfies Record<string, Catalog>;

/** The catalogs that only say "I answered in English", by language. */
export const noteCatalogs = { ja, ko, fr, es, de, pt, it, ru, vi } as const satisfies Record<string, NoteCatalog>;

/** Every locale the catalog has messages for. */
export type CatalogLocale = keyof typeof fullCatalogs | keyof typeof noteCatalogs;

const catalogs: Readonly<Record<string, Partial<Catalog>>> = { ...fullCatalogs, ...noteCatalogs };

const traditionalChinese = /^zh-(?:tw|hk|mo|hant)(?:-|$)/;

/**
 * The catalog locale for a language tag: exact match, Chinese by script/region (`zh-Hant`, `zh-HK` → `zh-TW`; `zh`,
 * `zh-Hans`, `zh-SG` → `zh-CN`), then the primary language (`fr-CA` → `fr`), else `en`.
 */
export function resolveCatalogLocale(language: string): CatalogLocale {
  const tag = language.trim().replaceAll('_', '-').toLowerCase();
  if (traditionalChinese.test(tag)) return 'zh-TW';
  if (tag === 'zh' || tag.startsWith('zh-')) return 'zh-CN';
  const primary = tag.split('-')[0] ?? '';
  if (primary === 'en') return 'en';
  if (Object.hasOwn(noteCatalogs, primary)) return primary as keyof typeof noteCatalogs;
  return 'en';
}

/** True when `key` is a key of the message catalog. */
export function isCatalogKey(key: string): key is CatalogKey {
  return Object.hasOwn(en, key);
}

/** Fills `{name}` placeholders; a placeholder without a value is left as it is, so a missing value stays visible. */
export function formatMessage(template: string, params?: MessageParams): string {
  if (params === undefined) return template;
  return template.replace(/\{(\w+)\}/g, (placeholder, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : placeholder,
  );
}

/** Renders a catalog message in `language` (any BCP-47 tag), falling back to English where the locale has none. */
export function t(language: string, key: CatalogKey, params?: MessageParams): string {
  const template = catalogs[resolveCatalogLocale(language)]?.[key] ?? en[key];
  return formatMessage(template, params);
}
