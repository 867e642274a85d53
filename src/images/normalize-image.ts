import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { defaultImageLimits, type ImageLimits } from './image-limits.ts';
import { ImageRejectedError } from './image-rejected-error.ts';
import { type SniffedImageFormat, sniffImageFormat, supportedImageFormats } from './sniff-image-format.ts';

/** Media types of normalized images (always JPEG today; the type leaves room for a lossless variant). */
export type NormalizedMediaType = 'image/jpeg' | 'image/png';

/** An image as the pipeline stores and uses it: upright, RGB, at most `maxSide` pixels on its longest side. */
export interface NormalizedImage {
  bytes: Uint8Array;
  /** Hex SHA-256 of `bytes`: the image store's key (`img:<sha256>`). */
  sha256: string;
  mediaType: NormalizedMediaType;
  width: number;
  height: number;
  /** The format the original bytes were in. */
  sourceFormat: SniffedImageFormat;
}

// Re-encoding: JPEG quality 90 without chroma subsampling keeps text in screenshots sharp; transparency is flattened
// onto white, as a viewer would show it, since the model reads RGB only. Metadata (EXIF, GPS) is dropped.
const jpegOptions = { quality: 90, chromaSubsampling: '4:4:4' } as const;

function isPixelLimitError(error: unknown): boolean {
  return error instanceof Error && /pixel limit/i.test(error.message);
}

function rejectionFor(error: unknown): ImageRejectedError {
  if (error instanceof ImageRejectedError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isPixelLimitError(error)) return new ImageRejectedError('image_too_large', message, { cause: error });
  return new ImageRejectedError('image_unreadable', message, { cause: error });
}

/**
 * Checks and normalizes an image: format from its magic bytes (one of supported-image-formats.ts; a GIF's first frame),
 * size and pixel count before decoding (decompression bombs are refused from their header), EXIF orientation
 * applied, scaled to fit `maxSide`, re-encoded as JPEG, hashed. Throws {@link ImageRejectedError}.
 */
export async function normalizeImage(bytes: Uint8Array, limits: Partial<ImageLimits> = {}): Promise<NormalizedImage> {
  const { maxBytes, maxPixels, maxSide, timeoutSeconds } = { ...defaultImageLimits, ...limits };
  if (bytes.length === 0) throw new ImageRejectedError('image_unreadable', 'empty file');
  if (bytes.length > maxBytes) {
    throw new ImageRejectedError('image_too_large', `${bytes.length} bytes is over the ${maxBytes}-byte limit`);
  }
  const sourceFormat = sniffImageFormat(bytes);
  if (sourceFormat === undefined || !supportedImageFormats.has(sourceFormat)) {
    throw new ImageRejectedError('unsupported_format', `format ${sourceFormat ?? 'unknown'} is not accepted`);
  }
  const input = { limitInputPixels: maxPixels, failOn: 'error', pages: 1 } as const;
  try {
    const metadata = await sharp(bytes, input).metadata();
    const pixels = (metadata.width ?? 0) * (metadata.pageHeight ?? metadata.height ?? 0);
    if (pixels === 0) throw new ImageRejectedError('image_unreadable', 'no dimensions in the header');
    if (pixels > maxPixels) {
      throw new ImageRejectedError('image_too_large', `${pixels} pixels is over the ${maxPixels}-pixel limit`);
    }
    const { data, info } = await sharp(bytes, input)
      .autoOrient()
      .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .jpeg(jpegOptions)
      .timeout({ seconds: timeoutSeconds })
      .toBuffer({ resolveWithObject: true });
    const output = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      bytes: output,
      sha256: createHash('sha256').update(output).digest('hex'),
      mediaType: 'image/jpeg',
      width: info.width,
      height: info.height,
      sourceFormat,
    };
  } catch (error) {
    throw rejectionFor(error);
  }
}

export { defaultImageLimits, type ImageLimits } from './image-limits.ts';
export { ImageRejectedError, type ImageRejectionKey } from './image-rejected-error.ts';
