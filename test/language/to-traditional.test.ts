import { describe, expect, it } from 'vitest';
import { detectChineseScript } from '../../src/language/chinese-script.ts';
import { toTraditional } from '../../src/language/to-traditional.ts';

describe('toTraditional', () => {
  it('converts characters and Taiwan vocabulary', () => {
    expect(toTraditional('这张图片里有一只猫。')).toBe('這張圖片裡有一隻貓。');
    expect(toTraditional('这个软件用鼠标操作')).toBe('這個軟體用滑鼠操作');
  });

  it('leaves English, digits and already-Traditional text alone', () => {
    expect(toTraditional('A cat, 3 years old.')).toBe('A cat, 3 years old.');
    expect(toTraditional('這是貓')).toBe('這是貓');
  });

  it('produces text the detector reads as Traditional', () => {
    expect(detectChineseScript(toTraditional('图片中有两个人在公园里散步，天气很好。'))).toBe('traditional');
  });
});
