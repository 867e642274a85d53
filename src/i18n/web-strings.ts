import { imageFormatNames } from '../images/supported-image-formats.ts';
import { type CatalogKey, fullCatalogs, resolveCatalogLocale, t } from './catalog.ts';

/** The messages the web page shows, in one locale: every `web.*`, `error.*` and `note.*` key plus the bot's notices. */
export interface WebStrings {
  /** The catalog locale the strings are in (`en`, `zh-CN`, `zh-TW`). */
  language: string;
  strings: Record<string, string>;
}

const pageKeyPrefixes = ['web.', 'error.', 'note.', 'reset.', 'help.', 'busy.', 'demo.'];

/**
 * The strings the web page needs in `language` (the page asks for its browser language; other languages get English),
 * with `{formats}` filled in (the accepted image formats); `{limit}`, `{count}`, ... are the page's to fill.
 */
export function webStrings(language: string): WebStrings {
  const locale = resolveCatalogLocale(language);
  const pageLanguage = locale === 'zh-CN' || locale === 'zh-TW' ? locale : 'en';
  const formats = imageFormatNames(pageLanguage);
  const strings: Record<string, string> = {};
  for (const key of Object.keys(fullCatalogs.en) as CatalogKey[]) {
    if (pageKeyPrefixes.some((prefix) => key.startsWith(prefix))) strings[key] = t(pageLanguage, key, { formats });
  }
  return { language: pageLanguage, strings };
}
