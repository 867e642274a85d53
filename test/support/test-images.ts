import sharp from 'sharp';

/** A small PNG of one colour, made with sharp. */
export async function solidPng(red: number, green: number, blue: number, width = 64, height = 48): Promise<Buffer> {
  return await sharp({ create: { width, height, channels: 3, background: { r: red, g: green, b: blue } } })
    .png()
    .toBuffer();
}
