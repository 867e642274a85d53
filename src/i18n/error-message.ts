import { imageFormatNames } from '../images/supported-image-formats.ts';
import { type CatalogKey, isCatalogKey, t } from './catalog.ts';

/**
 * Renders a reply's stable error key (`image_too_large`, `timeout`, ...) in `language`; unknown keys read as internal.
 * `unsupported_format` names the accepted formats (supported-image-formats.ts).
 */
export function errorMessage(language: string, errorKey: string): string {
  const key = `error.${errorKey}`;
  const catalogKey: CatalogKey = isCatalogKey(key) ? key : 'error.internal';
  return t(language, catalogKey, { formats: imageFormatNames(language) });
}
