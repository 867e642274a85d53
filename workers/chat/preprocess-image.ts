import sharp from 'sharp';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import { type SniffedImageFormat, sniffImageFormat } from '../../src/images/sniff-image-format.ts';
import { imageFormatNames, supportedImageFormats } from '../../src/images/supported-image-formats.ts';
import type { ModelManifest } from '../model/manifest.ts';
import { resizeBicubic } from './bicubic-resize.ts';

/** Limits and cancellation for {@link preprocessImage}. */
export interface PreprocessImageOptions {
  /**
   * Largest accepted width × height of the decoded image, checked from the header before any pixel is decoded (a
   * 30000×30000 PNG of a few hundred kilobytes would otherwise inflate to 2.7 GB).
   * @defaultValue 40_000_000 (40 megapixels: every phone camera fits)
   */
  maxInputPixels?: number;
  signal?: AbortSignal;
}

/** Defaults of {@link PreprocessImageOptions}. */
export const preprocessImageDefaults = { maxInputPixels: 40_000_000 } as const satisfies PreprocessImageOptions;

function refuseUnsupported(format: SniffedImageFormat | undefined): asserts format is SniffedImageFormat {
  if (format === undefined)
    throw new ImageRejectedError('image_unreadable', 'the bytes are not an image of any known format');
  if (!supportedImageFormats.has(format)) {
    throw new ImageRejectedError(
      'unsupported_format',
      `${format} images are not supported (send ${imageFormatNames()})`,
    );
  }
}

async function readDimensions(
  bytes: Uint8Array,
  format: SniffedImageFormat,
): Promise<{ width: number; height: number }> {
  try {
    // Header only: no pixel is decoded here, so a decompression bomb costs nothing.
    const metadata = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
    if (metadata.width > 0 && metadata.height > 0) return { width: metadata.width, height: metadata.height };
  } catch (error) {
    throw new ImageRejectedError('image_unreadable', `the ${format} header cannot be read`, { cause: error });
  }
  throw new ImageRejectedError('image_unreadable', `the ${format} image has no size`);
}

/**
 * Turns image bytes into the vision tower's input: a `[3, size, size]` channel-first Float32Array, following BLIP-2's
 * image processor (as used by Ziya-Visual): RGB, bicubic resize to size × size without crop, × rescale, CLIP mean/std.
 *
 * Every frame, orientation and colour-space question is settled first: EXIF orientation applied, the first frame of
 * an animated GIF/WebP, CMYK and 16-bit converted to 8-bit sRGB, alpha flattened onto white (as transformers'
 * `convert_to_rgb` does).
 *
 * Resampling: sharp only decodes (at full size: orientation, frame, colour space, alpha); the resize to size × size
 * is {@link resizeBicubic}, Pillow's BICUBIC operation for operation (pixel-centred sampling, a = -0.5, the kernel
 * widened by the scale when shrinking, 22-bit fixed-point weights, 8-bit rounding after each pass), so the pixels
 * equal what BlipImageProcessor gives the reference model when enlarging and when shrinking. (sharp's own cubic
 * resize samples an enlarged image half a source pixel off and box-averages large reductions first.)
 *
 * Errors are {@link ImageRejectedError}s with a stable key: `image_unreadable` (empty, truncated, corrupt, not an
 * image), `unsupported_format` (a known format the bot does not decode: SVG, HEIC, BMP, PDF, ...),
 * `image_too_large` (over `maxInputPixels`).
 */
export async function preprocessImage(
  bytes: Uint8Array,
  preprocessing: ModelManifest['preprocessing'],
  options: PreprocessImageOptions = {},
): Promise<Float32Array> {
  const maxInputPixels = options.maxInputPixels ?? preprocessImageDefaults.maxInputPixels;
  options.signal?.throwIfAborted();
  if (bytes.length === 0) throw new ImageRejectedError('image_unreadable', 'the image is empty (0 bytes)');
  const format = sniffImageFormat(bytes);
  refuseUnsupported(format);
  const { width, height } = await readDimensions(bytes, format);
  if (width * height > maxInputPixels) {
    throw new ImageRejectedError('image_too_large', `${width}×${height} is over the limit of ${maxInputPixels} pixels`);
  }
  options.signal?.throwIfAborted();

  const size = preprocessing.imageSize;
  let pixels: Uint8Array;
  let channels: number;
  let decodedWidth: number;
  let decodedHeight: number;
  try {
    const decoded = await sharp(bytes, { pages: 1, page: 0, limitInputPixels: maxInputPixels, failOn: 'error' })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    decodedWidth = decoded.info.width;
    decodedHeight = decoded.info.height;
    pixels = decoded.data;
    channels = decoded.info.channels;
  } catch (error) {
    throw new ImageRejectedError(
      'image_unreadable',
      `the ${format} image cannot be decoded: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  options.signal?.throwIfAborted();
  if (channels !== 3 || pixels.length !== decodedWidth * decodedHeight * 3) {
    throw new ImageRejectedError('image_unreadable', `decoding gave ${channels} channels instead of RGB`);
  }
  pixels = resizeBicubic(pixels, decodedWidth, decodedHeight, 3, size, size);

  const planeSize = size * size;
  const output = new Float32Array(3 * planeSize);
  for (let channel = 0; channel < 3; channel++) {
    const mean = preprocessing.mean[channel]!;
    const std = preprocessing.std[channel]!;
    const plane = channel * planeSize;
    for (let index = 0; index < planeSize; index++) {
      output[plane + index] = (pixels[index * 3 + channel]! * preprocessing.rescale - mean) / std;
    }
  }
  return output;
}
