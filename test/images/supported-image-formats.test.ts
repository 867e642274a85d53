import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { webStrings } from '../../src/i18n/web-strings.ts';
import { normalizeImage } from '../../src/images/normalize-image.ts';
import { sniffImageFormat } from '../../src/images/sniff-image-format.ts';
import { imageFormatNames, supportedImageFormatList } from '../../src/images/supported-image-formats.ts';
import { command as askCommand } from '../../workers/commands/ask.ts';

const encoders: Record<string, (image: Sharp) => Sharp> = {
  jpeg: (image) => image.jpeg(),
  png: (image) => image.png(),
  gif: (image) => image.gif(),
  webp: (image) => image.webp(),
  tiff: (image) => image.tiff(),
  avif: (image) => image.avif(),
};

describe('the one list of supported image formats', () => {
  it.each(supportedImageFormatList.map((entry) => [entry.name, entry] as const))(
    'names %s, which the server really accepts',
    async (_name, entry) => {
      const encode = encoders[entry.format];
      expect(encode, `no test encoder for ${entry.format}`).toBeDefined();
      const source = sharp({ create: { width: 24, height: 16, channels: 3, background: '#3a6' } });
      const bytes = new Uint8Array(await (encode as (image: Sharp) => Sharp)(source).toBuffer());
      expect(sniffImageFormat(bytes)).toBe(entry.format);
      const image = await normalizeImage(bytes);
      expect([image.sourceFormat, image.width, image.height]).toEqual([entry.format, 24, 16]);
      expect(entry.mediaTypes[0]).toBe(`image/${entry.format}`);
    },
  );

  it('is what ask --help, the unsupported-format error and the web page name', () => {
    const names = supportedImageFormatList.map((entry) => entry.name);
    expect(names).toEqual(['JPEG', 'PNG', 'GIF', 'WebP', 'TIFF', 'AVIF']);
    expect(imageFormatNames('en')).toBe('JPEG, PNG, GIF, WebP, TIFF, or AVIF');
    expect(imageFormatNames('zh-CN')).toBe('JPEG、PNG、GIF、WebP、TIFF或AVIF');

    const help = askCommand.helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain(`an image file (${imageFormatNames('en')})`);
    for (const language of ['en', 'zh-CN', 'zh-TW']) {
      const shown = [
        errorMessage(language, 'unsupported_format'),
        webStrings(language).strings['web.not_an_image'] ?? '',
        webStrings(language).strings['error.unsupported_format'] ?? '',
      ];
      for (const message of shown) {
        expect(message, language).not.toContain('{formats}');
        for (const name of names) expect(message, `${language}: ${message}`).toContain(name);
      }
    }
  });
});
