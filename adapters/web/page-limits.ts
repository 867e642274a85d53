import { supportedImageFormatList } from '../../src/images/supported-image-formats.ts';

/** What the page checks before it sends (`GET /api/info` → `limits`): the limits the server enforces, from config. */
export interface PageLimits {
  /** IMAGE_MAX_BYTES: larger files are refused in the browser, before any upload. */
  imageMaxBytes: number;
  /** The same limit as people read it (`20 MiB`), for the messages. */
  imageMaxSize: string;
  /** TEXT_MAX_CHARACTERS: the most characters (code points, after the server's cleaning) a message may have. */
  textMaxCharacters: number;
  /** The accepted image formats (src/images/supported-image-formats.ts): name, media types, file name endings. */
  imageFormats: { name: string; mediaTypes: readonly string[]; extensions: readonly string[] }[];
}

const mebibyte = 1024 * 1024;

/** A byte count as people read a limit: `20 MiB`, `1.5 MiB`, `512 KiB`. */
export function formatByteLimit(bytes: number): string {
  if (bytes >= mebibyte) return `${Number((bytes / mebibyte).toFixed(1))} MiB`;
  if (bytes >= 1024) return `${Number((bytes / 1024).toFixed(1))} KiB`;
  return `${bytes} B`;
}

/** The page's limits from the configuration. */
export function pageLimits(settings: { IMAGE_MAX_BYTES: number; TEXT_MAX_CHARACTERS: number }): PageLimits {
  return {
    imageMaxBytes: settings.IMAGE_MAX_BYTES,
    imageMaxSize: formatByteLimit(settings.IMAGE_MAX_BYTES),
    textMaxCharacters: settings.TEXT_MAX_CHARACTERS,
    imageFormats: supportedImageFormatList.map(({ name, mediaTypes, extensions }) => ({
      name,
      mediaTypes,
      extensions,
    })),
  };
}
