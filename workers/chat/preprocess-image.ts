import sharp from 'sharp';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import {
  type SniffedImageFormat,
  sniffImageFormat,
  supportedImageFormats,
} from '../../src/images/sniff-image-format.ts';
import type { ModelManifest } from '../model/manifest.ts';

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
      `${format} images are not supported (send JPEG, PNG, GIF, WebP, TIFF or AVIF)`,
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
 * Resampling: sharp's `cubic` kernel is Catmull-Rom, i.e. the Keys cubic with a = -0.5 — the same kernel as PIL's
 * `BICUBIC`, which the reference processor uses — and both widen it by the scale factor when shrinking (antialiasing).
 * What still differs: for large reductions (4× and more, from libvips' default `gap` of 2.0, which sharp does not
 * expose) libvips first box-averages by an integer factor and convolves only the rest, and the two libraries round
 * in fixed point differently. A solid or slowly varying region comes out identical; fine detail (a 1280 px photo at 224 px) can
 * differ from PIL by a few 8-bit levels. JPEG shrink-on-load (decoding at 1/2..1/8 scale) is turned off.
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
  let pixels: Buffer;
  let channels: number;
  try {
    const decoded = await sharp(bytes, { pages: 1, page: 0, limitInputPixels: maxInputPixels, failOn: 'error' })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: false })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
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
  if (channels !== 3 || pixels.length !== size * size * 3) {
    throw new ImageRejectedError('image_unreadable', `decoding gave ${channels} channels instead of RGB`);
  }

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
