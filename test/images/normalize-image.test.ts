import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  defaultImageLimits,
  ImageRejectedError,
  type ImageRejectionKey,
  normalizeImage,
} from '../../src/images/normalize-image.ts';
import { sniffImageFormat } from '../../src/images/sniff-image-format.ts';

const toBytes = (buffer: Buffer): Uint8Array => new Uint8Array(buffer);

// A picture whose halves differ, so orientation and content can be checked after normalization.
async function halves(width: number, height: number): Promise<Sharp> {
  const left = await sharp({ create: { width: width / 2, height, channels: 3, background: '#ff0000' } })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: '#0000ff' } }).composite([
    { input: left, left: 0, top: 0 },
  ]);
}

async function pixel(bytes: Uint8Array, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return [...data.subarray(offset, offset + 3)];
}

function near(actual: number[], expected: number[]): boolean {
  return actual.every((value, index) => Math.abs(value - (expected[index] ?? 0)) < 40);
}

async function rejection(bytes: Uint8Array, limits = {}): Promise<ImageRejectionKey> {
  try {
    await normalizeImage(bytes, limits);
  } catch (error) {
    if (error instanceof ImageRejectedError) return error.key;
    throw error;
  }
  throw new Error('the image was accepted');
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
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// A 30000 × 30000 RGB PNG header with a few bytes of pixel data: 900 megapixels if anyone tried to decode it.
function decompressionBombPng(): Uint8Array {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(30000, 0);
  header.writeUInt32BE(30000, 4);
  header[8] = 8;
  header[9] = 2;
  return toBytes(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', header),
      pngChunk('IDAT', deflateSync(Buffer.alloc(1024))),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
}

describe('normalizeImage', () => {
  it.each([
    ['png', (image: Sharp) => image.png()],
    ['jpeg', (image: Sharp) => image.jpeg()],
    ['webp', (image: Sharp) => image.webp()],
    ['tiff', (image: Sharp) => image.tiff()],
    ['avif', (image: Sharp) => image.avif()],
  ])('accepts %s and re-encodes it as JPEG with the same picture', async (format, encode) => {
    const bytes = toBytes(await encode(await halves(64, 32)).toBuffer());
    const image = await normalizeImage(bytes, defaultImageLimits);
    expect(image.sourceFormat).toBe(format);
    expect(image.mediaType).toBe('image/jpeg');
    expect(sniffImageFormat(image.bytes)).toBe('jpeg');
    expect([image.width, image.height]).toEqual([64, 32]);
    expect(image.sha256).toBe(createHash('sha256').update(image.bytes).digest('hex'));
    expect(near(await pixel(image.bytes, 8, 16), [255, 0, 0])).toBe(true);
    expect(near(await pixel(image.bytes, 56, 16), [0, 0, 255])).toBe(true);
  });

  it('is deterministic: the same bytes give the same sha256', async () => {
    const bytes = toBytes(await (await halves(40, 40)).png().toBuffer());
    expect((await normalizeImage(bytes)).sha256).toBe((await normalizeImage(bytes)).sha256);
  });

  it('takes the first frame of an animated GIF', async () => {
    const frames = Buffer.concat([
      await sharp({ create: { width: 20, height: 20, channels: 3, background: '#00ff00' } })
        .raw()
        .toBuffer(),
      await sharp({ create: { width: 20, height: 20, channels: 3, background: '#ff00ff' } })
        .raw()
        .toBuffer(),
    ]);
    // A 20 × 40 strip written as two 20-pixel pages: a two-frame animation, green then magenta.
    const bytes = toBytes(
      await sharp(frames, { raw: { width: 20, height: 40, channels: 3, pageHeight: 20 } })
        .gif({ loop: 0, delay: [100, 100] })
        .toBuffer(),
    );
    expect((await sharp(bytes).metadata()).pages).toBe(2);
    const image = await normalizeImage(bytes);
    expect([image.width, image.height]).toEqual([20, 20]);
    expect(near(await pixel(image.bytes, 10, 10), [0, 255, 0])).toBe(true);
  });

  it('applies EXIF orientation', async () => {
    // Stored landscape (red left, blue right), EXIF orientation 6: shown rotated 90° clockwise → portrait, red on top.
    const bytes = toBytes(await (await halves(60, 30)).jpeg().withMetadata({ orientation: 6 }).toBuffer());
    expect((await sharp(bytes).metadata()).orientation).toBe(6);
    const image = await normalizeImage(bytes);
    expect([image.width, image.height]).toEqual([30, 60]);
    expect(near(await pixel(image.bytes, 15, 8), [255, 0, 0])).toBe(true);
    expect(near(await pixel(image.bytes, 15, 52), [0, 0, 255])).toBe(true);
    expect((await sharp(image.bytes).metadata()).orientation).toBeUndefined();
  });

  it('flattens transparency onto white', async () => {
    const bytes = toBytes(
      await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
        .png()
        .toBuffer(),
    );
    const image = await normalizeImage(bytes);
    expect((await sharp(image.bytes).metadata()).hasAlpha).toBe(false);
    expect(near(await pixel(image.bytes, 8, 8), [255, 255, 255])).toBe(true);
  });

  it('scales large pictures to fit maxSide, keeping the aspect ratio, and never enlarges small ones', async () => {
    const large = toBytes(await (await halves(3000, 1500)).png().toBuffer());
    const image = await normalizeImage(large);
    expect([image.width, image.height]).toEqual([1024, 512]);
    const small = await normalizeImage(large, { maxSide: 100 });
    expect([small.width, small.height]).toEqual([100, 50]);
  });

  it('refuses empty, truncated and corrupt files as unreadable', async () => {
    expect(await rejection(new Uint8Array())).toBe('image_unreadable');
    const jpeg = await (await halves(200, 100)).jpeg().toBuffer();
    expect(await rejection(toBytes(jpeg.subarray(0, Math.floor(jpeg.length / 2))))).toBe('image_unreadable');
    const png = await (await halves(200, 100)).png().toBuffer();
    const corrupt = Buffer.from(png);
    corrupt.fill(0x41, 40);
    expect(await rejection(toBytes(corrupt))).toBe('image_unreadable');
    expect(await rejection(toBytes(Buffer.from([0xff, 0xd8, 0xff])))).toBe('image_unreadable');
  });

  it('refuses text, SVG, PDF, BMP and HEIC as unsupported, whatever they are called', async () => {
    const text = new TextEncoder().encode('this is a text file named cat.png\n');
    expect(await rejection(text)).toBe('unsupported_format');
    const svg = new TextEncoder().encode(
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );
    expect(sniffImageFormat(svg)).toBe('svg');
    expect(await rejection(svg)).toBe('unsupported_format');
    expect(await rejection(new TextEncoder().encode('%PDF-1.7\n%âãÏÓ\n'))).toBe('unsupported_format');
    const bmp = Buffer.alloc(58);
    bmp.write('BM', 0, 'ascii');
    expect(await rejection(toBytes(bmp))).toBe('unsupported_format');
    const heic = Buffer.alloc(32);
    heic.writeUInt32BE(24, 0);
    heic.write('ftypheic', 4, 'ascii');
    heic.write('mif1heic', 16, 'ascii');
    expect(sniffImageFormat(toBytes(heic))).toBe('heic');
    expect(await rejection(toBytes(heic))).toBe('unsupported_format');
  });

  it('refuses files over maxBytes before looking inside', async () => {
    const bytes = toBytes(await (await halves(64, 64)).png().toBuffer());
    expect(await rejection(bytes, { maxBytes: bytes.length - 1 })).toBe('image_too_large');
    expect(await rejection(new Uint8Array(defaultImageLimits.maxBytes + 1))).toBe('image_too_large');
  });

  it('refuses a 30000 × 30000 PNG from its header, quickly', async () => {
    const started = performance.now();
    expect(await rejection(decompressionBombPng())).toBe('image_too_large');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses pictures over maxPixels', async () => {
    const bytes = toBytes(await (await halves(200, 100)).png().toBuffer());
    expect(await rejection(bytes, { maxPixels: 19_999 })).toBe('image_too_large');
    expect((await normalizeImage(bytes, { maxPixels: 20_000 })).width).toBe(200);
  });
});
