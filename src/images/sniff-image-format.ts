import { type SupportedImageFormatId, supportedImageFormats as supportedFormats } from './supported-image-formats.ts';

/**
 * Formats told apart by their first bytes; those outside `supportedImageFormatList` (supported-image-formats.ts), such as
 * `svg`, `heic`, `bmp`, are recognised only to be refused by name.
 */
export type SniffedImageFormat =
  | SupportedImageFormatId
  | 'heic'
  | 'bmp'
  | 'svg'
  | 'pdf'
  | 'jpeg-xl'
  | 'jpeg-2000'
  | 'ico';

/** The formats the bot decodes: `supportedImageFormatList` (supported-image-formats.ts) by sniffed name. */
export const supportedImageFormats = supportedFormats as ReadonlySet<SniffedImageFormat>;

function startsWith(bytes: Uint8Array, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((value, index) => bytes[offset + index] === value);
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));
}

const heicBrands = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const avifBrands = new Set(['avif', 'avis']);

// ISO-BMFF (`....ftypXXXX`): the major brand, then the compatible brands, decide between AVIF and HEIC.
function sniffFileTypeBox(bytes: Uint8Array): SniffedImageFormat | undefined {
  if (ascii(bytes, 4, 8) !== 'ftyp') return undefined;
  const boxSize = Math.min(
    ((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0),
    64,
  );
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= boxSize; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  if (brands.some((brand) => avifBrands.has(brand))) return 'avif';
  if (brands.some((brand) => heicBrands.has(brand))) return 'heic';
  return undefined;
}

// SVG is text: skip a byte-order mark and whitespace, then look for an XML prolog, a comment or an <svg> element.
function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = new TextDecoder('utf-8', { fatal: false })
    .decode(bytes.subarray(0, 1024))
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (!head.startsWith('<')) return false;
  return /<svg[\s>]/i.test(head);
}

/** Names an image's format from its magic bytes (never from a file name or a declared media type). */
export function sniffImageFormat(bytes: Uint8Array): SniffedImageFormat | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 14) return 'bmp';
  if (ascii(bytes, 0, 5) === '%PDF-') return 'pdf';
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jpeg-xl';
  if (startsWith(bytes, [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) {
    return 'jpeg-2000';
  }
  if (startsWith(bytes, [0, 0, 1, 0])) return 'ico';
  const fileType = sniffFileTypeBox(bytes);
  if (fileType !== undefined) return fileType;
  if (looksLikeSvg(bytes)) return 'svg';
  return undefined;
}
