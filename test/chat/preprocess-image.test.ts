import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import { preprocessImage } from '../../workers/chat/preprocess-image.ts';
import { ziyaDefaults } from '../../workers/model/manifest.ts';

const preprocessing = ziyaDefaults.preprocessing;
const size = preprocessing.imageSize;
type Rgb = readonly [number, number, number];

/** The normalized value the processor must produce for an 8-bit level `level` of channel `channel`. */
function expected(level: number, channel: number): number {
  return (level / 255 - preprocessing.mean[channel]!) / preprocessing.std[channel]!;
}

function value(pixels: Float32Array, channel: number, y: number, x: number): number {
  return pixels[channel * size * size + y * size + x]!;
}

/** Back from a normalized value to its 8-bit level, to compare lossy formats with a tolerance in levels. */
function level(pixels: Float32Array, channel: number, y: number, x: number): number {
  return (value(pixels, channel, y, x) * preprocessing.std[channel]! + preprocessing.mean[channel]!) * 255;
}

function raw(width: number, height: number, colourAt: (x: number, y: number) => readonly number[], channels = 3) {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(colourAt(x, y), (y * width + x) * channels);
  }
  return sharp(data, { raw: { width, height, channels: channels as 3 | 4 } });
}

async function errorKey(bytes: Uint8Array): Promise<string> {
  const error = await preprocessImage(bytes, preprocessing).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ImageRejectedError);
  return (error as ImageRejectedError).key;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A valid 1-bit greyscale PNG of 30000×30000 zeros: ~110 KB on disk, 2.7 GB once decoded to RGB. */
function decompressionBomb(): Buffer {
  const side = 30_000;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header.set([1, 0, 0, 0, 0], 8);
  const rows = Buffer.alloc(side * (1 + Math.ceil(side / 8)));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(rows, { level: 1 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('preprocessImage', () => {
  it('maps every pixel of a solid image to (level / 255 - mean) / std, channel-first', async () => {
    const colour: Rgb = [10, 100, 200];
    const png = await raw(5, 7, () => colour)
      .png()
      .toBuffer();
    const pixels = await preprocessImage(png, preprocessing);
    expect(pixels.length).toBe(3 * size * size);
    for (let channel = 0; channel < 3; channel++) {
      const target = expected(colour[channel]!, channel);
      for (let index = 0; index < size * size; index += 97) {
        expect(pixels[channel * size * size + index]).toBeCloseTo(target, 6);
      }
    }
  });

  it('resizes without cropping: a left/right split stays split at the middle column', async () => {
    const png = await raw(40, 10, (x) => (x < 20 ? [255, 0, 0] : [0, 0, 255]))
      .png()
      .toBuffer();
    const pixels = await preprocessImage(png, preprocessing);
    expect(value(pixels, 0, 5, 10)).toBeCloseTo(expected(255, 0), 6);
    expect(value(pixels, 2, 5, 10)).toBeCloseTo(expected(0, 2), 6);
    expect(value(pixels, 0, 218, 213)).toBeCloseTo(expected(0, 0), 6);
    expect(value(pixels, 2, 218, 213)).toBeCloseTo(expected(255, 2), 6);
    // The split lands at column 112 of 224 (a centre crop of a 4:1 image would have shown only one colour).
    expect(level(pixels, 0, 100, 100)).toBeGreaterThan(250);
    expect(level(pixels, 2, 100, 124)).toBeGreaterThan(250);
  });

  it('applies the EXIF orientation of a JPEG (orientation 6: turned 90° clockwise)', async () => {
    // Stored as red on the left, blue on the right; displayed turned clockwise: red on top, blue at the bottom.
    const jpeg = await raw(16, 8, (x) => (x < 8 ? [255, 0, 0] : [0, 0, 255]))
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const pixels = await preprocessImage(jpeg, preprocessing);
    for (const x of [10, 112, 213]) {
      expect(level(pixels, 0, 10, x)).toBeGreaterThan(245);
      expect(level(pixels, 2, 10, x)).toBeLessThan(10);
      expect(level(pixels, 0, 213, x)).toBeLessThan(10);
      expect(level(pixels, 2, 213, x)).toBeGreaterThan(245);
    }
  });

  it('takes the first frame of an animated GIF', async () => {
    const frames = Buffer.concat([
      await raw(8, 8, () => [255, 0, 0])
        .raw()
        .toBuffer(),
      await raw(8, 8, () => [0, 0, 255])
        .raw()
        .toBuffer(),
    ]);
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } as never })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const pixels = await preprocessImage(gif, preprocessing);
    expect(value(pixels, 0, 112, 112)).toBeCloseTo(expected(255, 0), 6);
    expect(value(pixels, 2, 112, 112)).toBeCloseTo(expected(0, 2), 6);
    // Both frames stacked would have put blue at the bottom.
    expect(value(pixels, 0, 213, 112)).toBeCloseTo(expected(255, 0), 6);
    expect(value(pixels, 2, 213, 112)).toBeCloseTo(expected(0, 2), 6);
  });

  it('flattens transparency onto white', async () => {
    const png = await raw(16, 8, (x) => (x < 8 ? [255, 0, 0, 255] : [0, 50, 0, 0]), 4)
      .png()
      .toBuffer();
    const pixels = await preprocessImage(png, preprocessing);
    for (let channel = 0; channel < 3; channel++) {
      expect(value(pixels, channel, 100, 10)).toBeCloseTo(expected(channel === 0 ? 255 : 0, channel), 6);
      expect(value(pixels, channel, 100, 213)).toBeCloseTo(expected(255, channel), 6);
    }
  });

  it('reads a 16-bit PNG as the same 8-bit levels', async () => {
    const colour: Rgb = [10, 100, 200];
    const png16 = await raw(4, 4, () => colour)
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const pixels = await preprocessImage(png16, preprocessing);
    for (let channel = 0; channel < 3; channel++) {
      expect(value(pixels, channel, 50, 50)).toBeCloseTo(expected(colour[channel]!, channel), 6);
    }
  });

  it('converts a CMYK JPEG to RGB (white stays white, red stays red)', async () => {
    const jpeg = await raw(16, 8, (x) => (x < 8 ? [255, 255, 255] : [230, 20, 20]))
      .toColourspace('cmyk')
      .jpeg({ quality: 100 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).space).toBe('cmyk');
    const pixels = await preprocessImage(jpeg, preprocessing);
    for (let channel = 0; channel < 3; channel++) expect(level(pixels, channel, 100, 10)).toBeGreaterThan(245);
    expect(level(pixels, 0, 100, 213)).toBeGreaterThan(180);
    expect(level(pixels, 1, 100, 213)).toBeLessThan(80);
    expect(level(pixels, 2, 100, 213)).toBeLessThan(80);
  });

  it('refuses bad images with the stable error keys, never a crash', async () => {
    const noise = await sharp({
      create: {
        width: 256,
        height: 256,
        channels: 3,
        background: '#000',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .jpeg()
      .toBuffer();
    expect(await errorKey(new Uint8Array(0))).toBe('image_unreadable');
    expect(await errorKey(noise.subarray(0, Math.floor(noise.length * 0.6)))).toBe('image_unreadable');
    expect(await errorKey(noise.subarray(0, 20))).toBe('image_unreadable');
    expect(await errorKey(Buffer.from('this is a text file named cat.png\n'))).toBe('image_unreadable');
    expect(await errorKey(decompressionBomb())).toBe('image_too_large');
    const svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect/></svg>';
    expect(await errorKey(Buffer.from(svg))).toBe('unsupported_format');
    const heicBox = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1')]);
    expect(await errorKey(heicBox)).toBe('unsupported_format');
    expect(await errorKey(Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]))).toBe('unsupported_format');
  });

  it('honours the pixel limit it is given and an aborted signal', async () => {
    const png = await raw(100, 100, () => [1, 2, 3])
      .png()
      .toBuffer();
    await expect(preprocessImage(png, preprocessing, { maxInputPixels: 9_999 })).rejects.toMatchObject({
      key: 'image_too_large',
    });
    await expect(preprocessImage(png, preprocessing, { signal: AbortSignal.abort() })).rejects.toThrow(/abort/i);
  });
});
