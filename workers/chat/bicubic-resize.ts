/**
 * Pillow's `Image.resize(size, BICUBIC)` for 8-bit images, reproduced operation for operation (libImaging's
 * `Resample.c`), so the vision tower sees the pixels Hugging Face's BlipImageProcessor gives the reference model.
 *
 * - Output pixel `j` is centred on source position `(j + 0.5) · scale` (pixel centres, in both directions).
 * - The kernel is the Keys cubic with a = -0.5 over a support of 2; when shrinking (`scale > 1`) it is stretched by
 *   the scale (support `2 · scale`, taps weighted at `distance / scale`), which antialiases.
 * - Taps outside the image are dropped and the rest renormalized (no edge replication).
 * - Weights are rounded to 22-bit fixed point and each pass rounds and clamps to 8 bits; the horizontal pass runs
 *   first and is skipped when the width does not change (likewise the vertical pass).
 */

const precisionBits = 32 - 8 - 2;
const half = 1 << (precisionBits - 1);
const cubicSupport = 2;

function bicubic(distance: number): number {
  const a = -0.5;
  const x = Math.abs(distance);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** The taps of one direction: for output pixel `i`, `count[i]` weights from source pixel `first[i]` on. */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  /** `ksize` fixed-point weights per output pixel. */
  weights: Int32Array;
  ksize: number;
}

function precomputeTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = cubicSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const row = new Float64Array(ksize);
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    const inverse = 1 / filterScale;
    const min = Math.max(Math.trunc(center - support + 0.5), 0);
    const max = Math.min(Math.trunc(center + support + 0.5), inSize) - min;
    let total = 0;
    for (let tap = 0; tap < max; tap++) {
      const weight = bicubic((tap + min - center + 0.5) * inverse);
      row[tap] = weight;
      total += weight;
    }
    for (let tap = 0; tap < max; tap++) {
      const weight = total === 0 ? row[tap]! : row[tap]! / total;
      weights[out * ksize + tap] = Math.trunc(
        weight < 0 ? weight * (1 << precisionBits) - 0.5 : weight * (1 << precisionBits) + 0.5,
      );
    }
    first[out] = min;
    count[out] = max;
  }
  return { first, count, weights, ksize };
}

function clip8(sum: number): number {
  if (sum >= (1 << precisionBits) << 8) return 255;
  if (sum <= 0) return 0;
  return sum >> precisionBits;
}

function resampleHorizontal(
  input: Uint8Array,
  inWidth: number,
  rows: number,
  firstRow: number,
  channels: number,
  outWidth: number,
  taps: Taps,
): Uint8Array {
  const output = new Uint8Array(outWidth * rows * channels);
  const { first, count, weights, ksize } = taps;
  for (let y = 0; y < rows; y++) {
    const inRow = (y + firstRow) * inWidth * channels;
    const outRow = y * outWidth * channels;
    for (let x = 0; x < outWidth; x++) {
      const n = count[x]!;
      const k = x * ksize;
      let source = inRow + first[x]! * channels;
      let target = outRow + x * channels;
      if (channels === 3) {
        // The common case unrolled: one pass over the taps for the three channels.
        let red = half;
        let green = half;
        let blue = half;
        for (let tap = 0; tap < n; tap++, source += 3) {
          const weight = weights[k + tap]!;
          red += input[source]! * weight;
          green += input[source + 1]! * weight;
          blue += input[source + 2]! * weight;
        }
        output[target] = clip8(red);
        output[target + 1] = clip8(green);
        output[target + 2] = clip8(blue);
        continue;
      }
      for (let channel = 0; channel < channels; channel++, source++, target++) {
        let sum = half;
        for (let tap = 0; tap < n; tap++) sum += input[source + tap * channels]! * weights[k + tap]!;
        output[target] = clip8(sum);
      }
    }
  }
  return output;
}

function resampleVertical(
  input: Uint8Array,
  width: number,
  channels: number,
  outHeight: number,
  taps: Taps,
  rowOffset: number,
): Uint8Array {
  const stride = width * channels;
  const output = new Uint8Array(outHeight * stride);
  const { first, count, weights, ksize } = taps;
  for (let y = 0; y < outHeight; y++) {
    const start = (first[y]! - rowOffset) * stride;
    const n = count[y]!;
    const k = y * ksize;
    for (let index = 0; index < stride; index++) {
      let sum = half;
      for (let tap = 0; tap < n; tap++) sum += input[start + tap * stride + index]! * weights[k + tap]!;
      output[y * stride + index] = clip8(sum);
    }
  }
  return output;
}

/**
 * Resizes interleaved 8-bit pixels (`channels` per pixel, rows top to bottom) to `outWidth` × `outHeight` exactly as
 * Pillow's `Image.resize((outWidth, outHeight), Image.BICUBIC)` does (no `reducing_gap`, no box).
 */
export function resizeBicubic(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`${pixels.length} bytes are not ${width}×${height}×${channels}`);
  }
  const horizontal = precomputeTaps(width, outWidth);
  const vertical = precomputeTaps(height, outHeight);
  let current = pixels;
  let rowOffset = 0;
  if (outWidth !== width) {
    // Only the source rows the vertical pass reads are resampled horizontally.
    const firstRow = vertical.first[0]!;
    const lastRow = vertical.first[outHeight - 1]! + vertical.count[outHeight - 1]!;
    current = resampleHorizontal(current, width, lastRow - firstRow, firstRow, channels, outWidth, horizontal);
    rowOffset = firstRow;
  }
  if (outHeight !== height) current = resampleVertical(current, outWidth, channels, outHeight, vertical, rowOffset);
  return current;
}
