import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llamaTokenizerJson } from '../../workers/model/tokenizer/llama-vocabulary.ts';
import { StreamingDetokenizer } from '../../workers/model/tokenizer/streaming-detokenizer.ts';
import { loadTokenizer, type TextTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';
import { removeTokenizerDirectories, seededRandom, writeTokenizerDirectory } from './tokenizer-directory.ts';

let tokenizer: TextTokenizer;

beforeAll(async () => {
  tokenizer = await loadTokenizer(await writeTokenizerDirectory(llamaTokenizerJson()));
});
afterAll(removeTokenizerDirectories);

/** Pushes every id and returns each push's text, then the flushed rest. */
function stream(detokenizer: StreamingDetokenizer, ids: readonly number[]): { pieces: string[]; rest: string } {
  const pieces = ids.map((id) => detokenizer.push(id));
  return { pieces, rest: detokenizer.flush() };
}

/** A tokenizer that records how many ids each decode call gets, optionally hiding its pieces (no anchor token). */
function recordingTokenizer(inner: TextTokenizer, hidePieces = false): { tokenizer: TextTokenizer; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    tokenizer: {
      vocabSize: inner.vocabSize,
      bosTokenId: inner.bosTokenId,
      eosTokenId: inner.eosTokenId,
      encode: (text, options) => inner.encode(text, options),
      decode: (ids, options) => {
        sizes.push(ids.length);
        return inner.decode(ids, options);
      },
      tokenToId: (token) => (hidePieces ? undefined : inner.tokenToId(token)),
    },
  };
}

const realTexts = [
  'Hello world, this is a streaming test.',
  '你好！这张图片里有一只猫在沙发上睡觉。',
  '🦙 llamas 🎉 and 👨‍👩‍👧 families',
  'rare characters 𠀀𪚥 鑫龘 need byte fallback',
  ' leading space, then\nnew lines\n\n and   runs of spaces  ',
];

describe('StreamingDetokenizer', () => {
  it.each(realTexts)('streams %j without broken characters and ends with the full text', (text) => {
    const ids = tokenizer.encode(text);
    const detokenizer = new StreamingDetokenizer(tokenizer);
    const { pieces, rest } = stream(detokenizer, ids);
    for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
    expect(pieces.join('') + rest).toBe(text);
    expect(rest).toBe('');
    expect(detokenizer.text).toBe(text);
  });

  it('holds the bytes of an emoji back until the character is complete', () => {
    const ids = tokenizer.encode('🦙!', { addBos: false });
    expect(ids.slice(1, 5).map((id) => id - 3)).toEqual([0xf0, 0x9f, 0xa6, 0x99]);
    const { pieces } = stream(new StreamingDetokenizer(tokenizer), ids);
    expect(pieces).toEqual(['', '', '', '', '🦙', '!']);
  });

  it('strips the SentencePiece leading space once, at the start of the text only', () => {
    const ids = [1, ...tokenizer.encode('Hello world again', { addBos: false }), 2];
    const { pieces, rest } = stream(new StreamingDetokenizer(tokenizer), ids);
    expect(pieces).toEqual(['', 'Hello', ' world', ' again', '']);
    expect(rest).toBe('');
    const withSpecials = stream(new StreamingDetokenizer(tokenizer, { skipSpecialTokens: false }), ids);
    expect(withSpecials.pieces).toEqual(['<s>', ' Hello', ' world', ' again', '</s>']);
  });

  it('equals the full decode on random token sequences, bytes and special tokens included', () => {
    const random = seededRandom(20240607);
    for (let sequence = 0; sequence < 150; sequence += 1) {
      const length = 1 + Math.floor(random() * 24);
      const ids = Array.from({ length }, () => {
        const kind = random();
        if (kind < 0.45) return 3 + Math.floor(random() * 256); // byte pieces, often invalid UTF-8
        if (kind < 0.55) return Math.floor(random() * 3); // <unk> <s> </s>
        if (kind < 0.65) return tokenizer.tokenToId('▁')!;
        return 259 + Math.floor(random() * (tokenizer.vocabSize - 259));
      });
      for (const skipSpecialTokens of [true, false]) {
        const { pieces, rest } = stream(new StreamingDetokenizer(tokenizer, { skipSpecialTokens }), ids);
        expect(pieces.join('') + rest, JSON.stringify(ids)).toBe(tokenizer.decode(ids, { skipSpecialTokens }));
      }
    }
  });

  it('decodes a small window per token rather than the whole text', () => {
    const { tokenizer: recording, sizes } = recordingTokenizer(tokenizer);
    const ids = tokenizer.encode(realTexts.join(' ').repeat(4));
    const detokenizer = new StreamingDetokenizer(recording);
    sizes.length = 0;
    const { pieces, rest } = stream(detokenizer, ids);
    expect(pieces.join('') + rest).toBe(tokenizer.decode(ids, { skipSpecialTokens: true }));
    expect(ids.length).toBeGreaterThan(200);
    // At most the anchor plus the four bytes of one character; the first pushes decode from the start (BOS, word).
    expect(Math.max(...sizes.slice(3))).toBeLessThanOrEqual(5);
  });

  it('stays correct with a tokenizer that offers no anchor piece', () => {
    const { tokenizer: hidden } = recordingTokenizer(tokenizer, true);
    const ids = tokenizer.encode(realTexts.join('\n'));
    const { pieces, rest } = stream(new StreamingDetokenizer(hidden), ids);
    expect(pieces.join('') + rest).toBe(realTexts.join('\n'));
  });
});
