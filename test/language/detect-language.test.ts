import { describe, expect, it } from 'vitest';
import { detectChineseScript } from '../../src/language/chinese-script.ts';
import { detectLanguage } from '../../src/language/detect-language.ts';

describe('detectLanguage', () => {
  it.each([
    ['这张图片里有什么？', 'zh-CN', 'zh-CN'],
    ['请描述一下这只猫在做什么', 'zh-CN', 'zh-CN'],
    ['這張圖片裡有什麼？', 'zh-TW', 'zh-TW'],
    ['請描述一下這隻貓在做什麼', 'zh-TW', 'zh-TW'],
    ['What is in this picture?', 'en', 'en'],
    ['Describe the weather in this photo, please.', 'en', 'en'],
    ['これは何ですか？', 'ja', undefined],
    ['この写真に写っている動物は何ですか', 'ja', undefined],
    ['이 사진에 무엇이 있나요?', 'ko', undefined],
    ["Qu'est-ce qu'il y a sur cette image ?", 'fr', undefined],
    ['¿Qué hay en esta imagen?', 'es', undefined],
    ['Was ist auf diesem Bild zu sehen?', 'de', undefined],
  ])('%s → %s', (text, code, reply) => {
    expect(detectLanguage(text)).toEqual({ code, reply });
  });

  it('says und for empty, whitespace, emoji-only, punctuation, links and single Latin words', () => {
    for (const text of [
      '',
      '   \n',
      '😀😀👍',
      '？！…',
      '123 456',
      'https://example.com/cat.png',
      'ok',
      'hi',
      '<@123456789>',
    ]) {
      expect(detectLanguage(text), JSON.stringify(text)).toEqual({ code: 'und', reply: undefined });
    }
  });

  it('gives Chinese without script evidence the code zh and a Simplified default', () => {
    expect(detectLanguage('你好')).toEqual({ code: 'zh', reply: 'zh-CN' });
    expect(detectLanguage('人')).toEqual({ code: 'zh', reply: 'zh-CN' });
  });

  it('decides mixed Chinese/English text by the larger share of meaning', () => {
    expect(detectLanguage('这个 cat 是什么品种？').code).toBe('zh-CN');
    expect(detectLanguage('這個 cat 是什麼品種？').code).toBe('zh-TW');
    expect(detectLanguage('What breed is this 猫, and how old is it?').code).toBe('en');
    expect(detectLanguage('Can you describe the 风景 in this photo?').reply).toBe('en');
  });

  it('ignores mentions and links when detecting', () => {
    expect(detectLanguage('<@123456789> 这是什么 https://example.com/a.png').code).toBe('zh-CN');
    expect(detectLanguage('@_user_1 What is in this picture?').code).toBe('en');
  });

  it('is fast on a long message', () => {
    // 4000 different Han characters: nothing cached from earlier tests helps.
    const varied = Array.from({ length: 4000 }, (_, index) => String.fromCodePoint(0x4e00 + ((index * 7919) % 20000)));
    const started = performance.now();
    detectLanguage(varied.join(''));
    detectLanguage('What is in this picture? '.repeat(160));
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('detectChineseScript', () => {
  it('counts characters that exist in only one script', () => {
    expect(detectChineseScript('这是图片')).toBe('simplified');
    expect(detectChineseScript('這是圖片')).toBe('traditional');
    expect(detectChineseScript('你好')).toBe('unknown');
    // Two Traditional-only characters against one Simplified-only one.
    expect(detectChineseScript('這張图')).toBe('traditional');
  });
});
