import { describe, expect, it } from 'vitest';
import { defaultTextLimits, validateText } from '../../src/text/validate-text.ts';

describe('validateText', () => {
  it('trims and keeps ordinary text, newlines and emoji', () => {
    expect(validateText('  这是什么？\r\nWhat is it? 👩‍👩‍👧  ')).toEqual({
      ok: true,
      text: '这是什么？\nWhat is it? 👩‍👩‍👧',
    });
  });

  it('normalizes to NFC', () => {
    const decomposed = 'Cafe\u0301';
    const result = validateText(decomposed);
    expect(result).toEqual({ ok: true, text: 'Caf\u00e9' });
  });

  it('strips control and bidirectional override characters', () => {
    expect(validateText('a\u0000b\u0007c\u202Ed\u2066e\u200Ff\uFEFFg\u009Bh')).toEqual({ ok: true, text: 'abcdefgh' });
  });

  it('refuses empty text unless allowed', () => {
    expect(validateText('')).toEqual({ ok: false, key: 'empty_message' });
    expect(validateText(' \n\t\u202E\u0000 ')).toEqual({ ok: false, key: 'empty_message' });
    expect(validateText('  ', { allowEmpty: true })).toEqual({ ok: true, text: '' });
  });

  it('counts characters (code points), not UTF-16 units, against the limit', () => {
    expect(defaultTextLimits.maxChars).toBe(4000);
    expect(validateText('a'.repeat(4000))).toEqual({ ok: true, text: 'a'.repeat(4000) });
    expect(validateText('a'.repeat(4001))).toEqual({ ok: false, key: 'message_too_long' });
    expect(validateText('😀'.repeat(10), { maxChars: 10 }).ok).toBe(true);
    expect(validateText('😀'.repeat(11), { maxChars: 10 })).toEqual({ ok: false, key: 'message_too_long' });
  });
});
