import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resizeBicubic } from '../../workers/chat/bicubic-resize.ts';
import { preprocessImage } from '../../workers/chat/preprocess-image.ts';
import { ziyaDefaults } from '../../workers/model/manifest.ts';

// Fixtures: test/chat/fixtures/make-pillow-resize-fixtures.py (Debian python3-pil 9.4), resizing as Hugging Face's
// BlipImageProcessor does: Image.resize((224, 224), BICUBIC, reducing_gap=None), no crop.
const fixtures = join(import.meta.dirname, 'fixtures');
const preprocessing = ziyaDefaults.preprocessing;
const size = preprocessing.imageSize;
const cases = ['noisy-37x23', 'noisy-224x200', 'noisy-1000x40', 'noisy-250x231'];

async function rgb(file: string): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(readFileSync(join(fixtures, file)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height };
}

/** Largest difference in 8-bit levels between our preprocessed tensor and Pillow's resized pixels. */
function maxLevelDifference(tensor: Float32Array, pillow: Uint8Array): number {
  let worst = 0;
  for (let channel = 0; channel < 3; channel++) {
    for (let index = 0; index < size * size; index++) {
      const level =
        (tensor[channel * size * size + index]! * preprocessing.std[channel]! + preprocessing.mean[channel]!) * 255;
      worst = Math.max(worst, Math.abs(level - pillow[index * 3 + channel]!));
    }
  }
  return worst;
}

describe('preprocessing against Pillow BICUBIC', () => {
  it.each(cases)('%s: the preprocessed tensor is Pillow resize within 1 level', async (name) => {
    const pillow = await rgb(`${name}.pillow-224.png`);
    const tensor = await preprocessImage(readFileSync(join(fixtures, `${name}.png`)), preprocessing);
    const difference = maxLevelDifference(tensor, pillow.pixels);
    console.log(`${name}: max level difference vs Pillow ${difference.toFixed(4)}`);
    expect(difference).toBeLessThanOrEqual(1);
  });

  it.each(cases)('%s: resizeBicubic reproduces Pillow exactly', async (name) => {
    const input = await rgb(`${name}.png`);
    const pillow = await rgb(`${name}.pillow-224.png`);
    const ours = resizeBicubic(input.pixels, input.width, input.height, 3, size, size);
    let differing = 0;
    for (let index = 0; index < ours.length; index++) if (ours[index] !== pillow.pixels[index]) differing++;
    expect(differing).toBe(0);
  });

  it('leaves the columns of a 224×200 image untouched (only the height is resampled)', async () => {
    const input = await rgb('noisy-224x200.png');
    const ours = resizeBicubic(input.pixels, 224, 200, 3, 224, 224);
    // Rows 0 and 223 sit past the centre of the first and last source rows: a column's value there is a blend of
    // the same column only, so a column-shifted resize shows as a mismatch against a vertical-only resize.
    const column = (pixels: Uint8Array, height: number, x: number) =>
      Array.from({ length: height }, (_, y) => pixels[(y * 224 + x) * 3]!);
    const verticalOnly = resizeBicubic(Uint8Array.from(column(input.pixels, 200, 17)), 1, 200, 1, 1, 224);
    expect(column(ours, 224, 17)).toEqual(Array.from(verticalOnly));
  });
});
