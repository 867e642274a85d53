import { readFileSync } from 'node:fs';
import llamaTokenizer from 'llama-tokenizer-js';
import { afterAll, describe, expect, it } from 'vitest';
import { sentencePieceToTokenizerJson } from '../../workers/model/tokenizer/sentencepiece-convert.ts';
import {
  parseSentencePieceModel,
  sentencePieceModelType,
  serializeSentencePieceModel,
} from '../../workers/model/tokenizer/sentencepiece-model.ts';
import { loadTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';
import { llamaSentencePieceModel } from './llama-sentencepiece-model.ts';
import { removeTokenizerDirectories, writeTokenizerDirectory } from './tokenizer-directory.ts';

afterAll(removeTokenizerDirectories);

// Trained and encoded by the real SentencePiece library, merges from transformers (make-sentencepiece-fixture.py).
const fixtureModel = readFileSync(new URL('fixtures/sentencepiece-bpe.model', import.meta.url));
const fixtureExpected = JSON.parse(
  readFileSync(new URL('fixtures/sentencepiece-bpe-expected.json', import.meta.url), 'utf8'),
) as { vocabSize: number; cases: { text: string; ids: number[]; pieces: string[] }[]; merges: [string, string][] };

interface ConvertedJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { vocab: Record<string, number>; merges: [string, string][]; byte_fallback: boolean; unk_token: string };
}

describe('sentencePieceToTokenizerJson', () => {
  it('reads the trainer and normalizer specs of a real SentencePiece model', () => {
    const model = parseSentencePieceModel(fixtureModel);
    expect(model.pieces).toHaveLength(fixtureExpected.vocabSize);
    expect(model.pieces.slice(0, 4).map(({ piece, type }) => [piece, type])).toEqual([
      ['<unk>', 2],
      ['<s>', 3],
      ['</s>', 3],
      ['<0x00>', 6],
    ]);
    expect(model.trainerSpec).toMatchObject({ modelType: sentencePieceModelType.bpe, byteFallback: true, padId: -1 });
    expect(model.normalizerSpec).toMatchObject({
      name: 'identity',
      addDummyPrefix: true,
      removeExtraWhitespaces: false,
    });
  });

  it('derives the same merges, in the same order, as transformers does from the piece scores', () => {
    const json = sentencePieceToTokenizerJson(fixtureModel) as ConvertedJson;
    expect(json.model.merges).toEqual(fixtureExpected.merges);
    expect(json.model).toMatchObject({ byte_fallback: true, unk_token: '<unk>' });
    expect(json.added_tokens.map(({ id, special }) => [id, special])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
  });

  it('encodes zh/en/emoji/newline/byte-fallback text exactly as the real SentencePiece encoder', async () => {
    const tokenizer = await loadTokenizer(await writeTokenizerDirectory(sentencePieceToTokenizerJson(fixtureModel)));
    expect(tokenizer.vocabSize).toBe(fixtureExpected.vocabSize);
    for (const { text, ids, pieces } of fixtureExpected.cases) {
      expect(tokenizer.encode(text, { addBos: false }), text).toEqual(ids);
      expect(pieces.map((piece) => tokenizer.tokenToId(piece))).toEqual(ids);
      expect(tokenizer.decode(ids), text).toBe(text);
    }
  });

  it('converts LLaMA as a SentencePiece model into a tokenizer that matches llama-tokenizer-js', async () => {
    const json = sentencePieceToTokenizerJson(serializeSentencePieceModel(llamaSentencePieceModel())) as ConvertedJson;
    const merges = json.model.merges.map(([left, right]) => `${left} ${right}`);
    // The same merges as Meta's tokenizer.json (their order within one merged piece may differ: it does not matter).
    expect(merges).toHaveLength(llamaTokenizer.merges.size);
    expect(merges.filter((merge) => !llamaTokenizer.merges.has(merge))).toEqual([]);
    const tokenizer = await loadTokenizer(await writeTokenizerDirectory(json));
    for (const text of [
      'Hello world',
      '<human>:你好，这张图片里有什么？\n<bot>:',
      '我们今天去公园散步吧 🦙🎉 and rare 鑫龘𪚥',
      '           grabbed\t\ttabs\n\nnew lines',
    ]) {
      expect(tokenizer.encode(text), text).toEqual(llamaTokenizer.encode(text));
    }
  });

  it('uses Chinese pieces appended to LLaMA vocabulary, as Ziya does', async () => {
    // LLaMA has no "你好", "图片" or "鑫" piece: without the extension they are single characters or bytes.
    const extra = ['你好', '图片', '鑫', '▁你好'];
    for (const piece of extra) expect(llamaTokenizer.vocabByString.has(piece)).toBe(false);
    const bytes = serializeSentencePieceModel(llamaSentencePieceModel(extra));
    const tokenizer = await loadTokenizer(await writeTokenizerDirectory(sentencePieceToTokenizerJson(bytes)));
    expect(tokenizer.vocabSize).toBe(32000 + extra.length);
    const [nihao, tupian, xin, spaceNihao] = extra.map((piece) => tokenizer.tokenToId(piece));
    expect([nihao, tupian, xin, spaceNihao]).toEqual([32000, 32001, 32002, 32003]);
    expect(tokenizer.encode('你好', { addBos: false })).toEqual([spaceNihao]);
    const ids = tokenizer.encode('这张图片里有鑫，你好', { addBos: false });
    expect(ids).toContain(tupian);
    expect(ids).toContain(xin);
    expect(ids).toContain(nihao);
    expect(ids.length).toBeLessThan(llamaTokenizer.encode('这张图片里有鑫，你好', false).length);
    expect(tokenizer.decode(ids)).toBe('这张图片里有鑫，你好');
  });

  it('rejects bytes that are not a SentencePiece BPE model', () => {
    expect(() => sentencePieceToTokenizerJson(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(
      /not a SentencePiece model/,
    );
    expect(() => sentencePieceToTokenizerJson(new Uint8Array())).toThrow(/no pieces/);
    const unigram = llamaSentencePieceModel();
    unigram.trainerSpec.modelType = sentencePieceModelType.unigram;
    expect(() => sentencePieceToTokenizerJson(serializeSentencePieceModel(unigram))).toThrow(/only SentencePiece BPE/);
  });
});
