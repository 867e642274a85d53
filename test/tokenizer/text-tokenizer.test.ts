import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llamaTokenizerJson } from '../../workers/model/tokenizer/llama-vocabulary.ts';
import { loadTokenizer, type TextTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';
import { removeTokenizerDirectories, writeTokenizerDirectory } from './tokenizer-directory.ts';

let directory: string;
let tokenizer: TextTokenizer;

beforeAll(async () => {
  directory = await writeTokenizerDirectory(llamaTokenizerJson());
  tokenizer = await loadTokenizer(directory);
});
afterAll(removeTokenizerDirectories);

describe('loadTokenizer', () => {
  it.each([
    ['Chinese', '你好，世界！今天天气很好，我们去公园散步吧。'],
    ['English', 'The quick brown fox jumps over the lazy dog.'],
    ['mixed', '这是 GPT-4 和 Ziya-LLaMA-13B 的对比 (v1.0): 100% 准确?'],
    ['emoji', '🦙🎉👍🏽 family: 👨‍👩‍👧'],
    ['newlines', 'first\nsecond\n\n\nthird\r\nfourth\n'],
    ['rare CJK through byte fallback', '𠀀𪚥龘鑫 and 㐀'],
    ['spaces', '   three leading, two  inside, one trailing '],
  ])('round-trips %s text', (_kind, text) => {
    const ids = tokenizer.encode(text);
    expect(ids[0]).toBe(tokenizer.bosTokenId);
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(text);
    expect(tokenizer.decode(ids.slice(1))).toBe(text);
  });

  it('uses byte-fallback pieces for characters outside the vocabulary', () => {
    const bytePieceIds = Array.from(new TextEncoder().encode('𪚥'), (byte) =>
      tokenizer.tokenToId(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`),
    );
    expect(bytePieceIds).toHaveLength(4);
    expect(tokenizer.encode('𪚥', { addBos: false })).toEqual([tokenizer.tokenToId('▁'), ...bytePieceIds]);
  });

  it('puts the SentencePiece space before a prompt once and encodes newlines as <0x0A>', () => {
    const prompt = '<human>:你好\n<bot>:';
    const ids = tokenizer.encode(prompt, { addBos: false });
    const newline = tokenizer.tokenToId('<0x0A>');
    expect(ids.filter((id) => id === newline)).toHaveLength(1);
    // "▁<" starts the prompt; the "<" after the newline carries no space marker.
    expect(ids[0]).toBe(tokenizer.tokenToId('▁<'));
    expect(ids[ids.indexOf(newline!) + 1]).toBe(tokenizer.tokenToId('<'));
    expect(ids.filter((id) => id === tokenizer.tokenToId('▁'))).toEqual([]);
    // Encoding the whole prompt once differs from gluing encoded pieces, which would add a space per piece.
    expect(ids).not.toEqual([
      ...tokenizer.encode('<human>:你好\n', { addBos: false }),
      ...tokenizer.encode('<bot>:', { addBos: false }),
    ]);
    expect(tokenizer.decode(ids)).toBe(prompt);
  });

  it('adds BOS by default and only when asked', () => {
    expect(tokenizer.encode('Hello')).toEqual([1, ...tokenizer.encode('Hello', { addBos: false })]);
    expect(tokenizer.encode('', { addBos: false })).toEqual([]);
    expect(tokenizer.encode('')).toEqual([1]);
  });

  it('decodes special tokens unless told to skip them', () => {
    const ids = [1, ...tokenizer.encode('Hi', { addBos: false }), 2];
    expect(tokenizer.decode(ids)).toBe('<s> Hi</s>');
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('Hi');
    expect(tokenizer.decode([])).toBe('');
    expect(() => tokenizer.decode([1.5])).toThrow(RangeError);
  });

  it('keeps spaces before punctuation (no tokenization-space clean-up)', () => {
    const text = 'a , b . c !';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe('<s> a , b . c !');
    expect(tokenizer.decode(tokenizer.encode(text), { skipSpecialTokens: true })).toBe(text);
  });

  it('loads from the tokenizer.json path as well as from its directory', async () => {
    const fromFile = await loadTokenizer(join(directory, 'tokenizer.json'));
    expect(fromFile.encode('你好 world')).toEqual(tokenizer.encode('你好 world'));
  });

  it('takes the BOS and EOS names from tokenizer_config.json', async () => {
    const configured = await loadTokenizer(
      await writeTokenizerDirectory(llamaTokenizerJson(), {
        bos_token: { content: '</s>', lstrip: false },
        eos_token: '<unk>',
      }),
    );
    expect([configured.bosTokenId, configured.eosTokenId]).toEqual([2, 0]);
    expect(configured.encode('a')[0]).toBe(2);
  });

  it('names the file when it is missing, corrupt or not a tokenizer', async () => {
    const missing = join(directory, 'missing', 'tokenizer.json');
    await expect(loadTokenizer(missing)).rejects.toThrow(missing);
    const corruptDirectory = await writeTokenizerDirectory({});
    const corrupt = join(corruptDirectory, 'tokenizer.json');
    await writeFile(corrupt, '{"model": {"type": "BPE", "vocab": {');
    await expect(loadTokenizer(corruptDirectory)).rejects.toThrow(`tokenizer file ${corrupt} is not valid JSON`);
    const noModel = await writeTokenizerDirectory({ version: '1.0' });
    await expect(loadTokenizer(noModel)).rejects.toThrow(join(noModel, 'tokenizer.json'));
    const badConfig = await writeTokenizerDirectory(llamaTokenizerJson());
    await writeFile(join(badConfig, 'tokenizer_config.json'), 'not json');
    await expect(loadTokenizer(badConfig)).rejects.toThrow(join(badConfig, 'tokenizer_config.json'));
    const noSpecialTokens = await writeTokenizerDirectory({
      model: { type: 'BPE', vocab: { a: 0 }, merges: [], unk_token: null },
    });
    await expect(loadTokenizer(noSpecialTokens)).rejects.toThrow('has no BOS token <s>');
  });
});
