/** The formats the bot decodes, as `sniffImageFormat` names them. */
export type SupportedImageFormatId = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif';

/** A format the bot decodes: its name for people, and how browsers and file systems label its files. */
export interface SupportedImageFormat {
  format: SupportedImageFormatId;
  /** The name shown to people (`JPEG`, `WebP`). */
  name: string;
  /** Media types a browser gives such a file (`File.type`). */
  mediaTypes: readonly string[];
  /** File name endings, lower case, with the dot. */
  extensions: readonly string[];
}

/**
 * The one list of accepted image formats (sharp's prebuilt libvips decodes them all; BMP has no loader there, HEIC
 * needs a patent-encumbered HEVC decoder). The normalizer and the model's preprocessing check against it, the error
 * message, `ask --help` and the web page (through `/api/info`) name it.
 */
export const supportedImageFormatList: readonly SupportedImageFormat[] = [
  { format: 'jpeg', name: 'JPEG', mediaTypes: ['image/jpeg', 'image/pjpeg'], extensions: ['.jpg', '.jpeg', '.jfif'] },
  { format: 'png', name: 'PNG', mediaTypes: ['image/png', 'image/apng'], extensions: ['.png', '.apng'] },
  { format: 'gif', name: 'GIF', mediaTypes: ['image/gif'], extensions: ['.gif'] },
  { format: 'webp', name: 'WebP', mediaTypes: ['image/webp'], extensions: ['.webp'] },
  { format: 'tiff', name: 'TIFF', mediaTypes: ['image/tiff'], extensions: ['.tif', '.tiff'] },
  { format: 'avif', name: 'AVIF', mediaTypes: ['image/avif'], extensions: ['.avif'] },
];

/** The accepted formats, by sniffed format. */
export const supportedImageFormats: ReadonlySet<string> = new Set(
  supportedImageFormatList.map((entry) => entry.format),
);

/** The accepted formats named as a list in `language` ("JPEG, PNG, GIF, WebP, TIFF, or AVIF"; 中文用顿号). */
export function imageFormatNames(language = 'en'): string {
  const names = supportedImageFormatList.map((entry) => entry.name);
  let locale = 'en';
  try {
    locale = Intl.ListFormat.supportedLocalesOf([language])[0] ?? 'en';
  } catch {
    // not a well-formed language tag: English
  }
  return new Intl.ListFormat(locale, { type: 'disjunction' }).format(names);
}
