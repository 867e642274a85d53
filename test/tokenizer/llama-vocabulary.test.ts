import llamaTokenizer from 'llama-tokenizer-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llamaTokenizerJson } from '../../workers/model/tokenizer/llama-vocabulary.ts';
import { loadTokenizer, type TextTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';
import { removeTokenizerDirectories, seededRandom, writeTokenizerDirectory } from './tokenizer-directory.ts';

interface LlamaJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  normalizer: { type: string; normalizers: { type: string }[] };
  pre_tokenizer: unknown;
  decoder: { type: string; decoders: { type: string }[] };
  model: { type: string; byte_fallback: boolean; fuse_unk: boolean; vocab: Record<string, number>; merges: unknown[] };
}

let tokenizer: TextTokenizer;
let json: LlamaJson;

beforeAll(async () => {
  json = llamaTokenizerJson() as LlamaJson;
  tokenizer = await loadTokenizer(await writeTokenizerDirectory(json));
});
afterAll(removeTokenizerDirectories);

describe('llamaTokenizerJson', () => {
  it('has the LlamaConverter layout: byte-fallback BPE, Prepend/Replace normalizer, special <unk> <s> </s>', () => {
    expect(json.model).toMatchObject({ type: 'BPE', byte_fallback: true, fuse_unk: true, unk_token: '<unk>' });
    expect(json.normalizer.normalizers.map((normalizer) => normalizer.type)).toEqual(['Prepend', 'Replace']);
    expect(json.pre_tokenizer).toBeNull();
    expect(json.decoder.decoders.map((decoder) => decoder.type)).toEqual(['Replace', 'ByteFallback', 'Fuse', 'Strip']);
    expect(json.added_tokens.map(({ id, content, special }) => [id, content, special])).toEqual([
      [0, '<unk>', true],
      [1, '<s>', true],
      [2, '</s>', true],
    ]);
    expect(Object.keys(json.model.vocab)).toHaveLength(32000);
    expect(json.model.merges).toHaveLength(llamaTokenizer.merges.size);
  });

  it('maps every one of the 32000 pieces to its own id, including pieces named like Object members', () => {
    expect(tokenizer.vocabSize).toBe(32000);
    const wrong = llamaTokenizer.vocabById.filter((piece, id) => tokenizer.tokenToId(piece) !== id);
    expect(wrong).toEqual([]);
    expect(tokenizer.tokenToId('constructor')).toBe(llamaTokenizer.vocabById.indexOf('constructor'));
    expect([tokenizer.bosTokenId, tokenizer.eosTokenId]).toEqual([1, 2]);
    expect(tokenizer.tokenToId('<0x0A>')).toBe(13);
  });

  // Ids produced by Meta's tokenizer, as recorded by others (sources named per case); none computed here.
  const knownIds: [source: string, text: string, ids: number[]][] = [
    ['task brief', 'Hello world', [1, 15043, 3186]],
    ['llama-tokenizer-js README', 'Hello world!', [1, 15043, 3186, 29991]],
    ['llama-tokenizer-js tests', 'grabbed', [1, 2646, 1327, 287]],
    ['llama-tokenizer-js tests', ' grabbed', [1, 29871, 2646, 1327, 287]],
    ['llama-tokenizer-js tests', '           grabbed', [1, 9651, 2646, 1327, 287]],
    ['llama-tokenizer-js tests', '\n', [1, 29871, 13]],
    ['llama-tokenizer-js tests', ' \n', [1, 259, 13]],
    ['llama-tokenizer-js tests', '\ttabs\t\t\t\tout here', [1, 29871, 12, 21175, 12, 12, 12, 12, 449, 1244]],
    ['llama-tokenizer-js tests', 'ax\n####\nboo', [1, 4853, 13, 4136, 13, 833, 29877]],
    ['llama-tokenizer-js tests', '镇', [1, 29871, 30411]],
    ['llama-tokenizer-js tests', '🦙', [1, 29871, 243, 162, 169, 156]],
    ['llama-tokenizer-js tests', '🦙Ꙋ', [1, 29871, 243, 162, 169, 156, 237, 156, 141]],
    ['llama-tokenizer-js tests', 'Ꙋ🦙', [1, 29871, 237, 156, 141, 243, 162, 169, 156]],
    [
      'transformers CodeLlama tokenizer test',
      '[INST] How are you doing?',
      [1, 518, 25580, 29962, 1128, 526, 366, 2599, 29973],
    ],
  ];
  it.each(knownIds)('encodes as Meta LLaMA does (%s): %j', (_source, text, ids) => {
    expect(tokenizer.encode(text)).toEqual(ids);
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(text);
  });

  // Llama-2-7b-chat-hf and TinyLlama (same vocabulary) chat prompts with their ids, from a public chat-template test;
  // special tokens written in the text and newlines between turns, encoded without an extra BOS.
  const chatPrompts: [string, number[]][] = [
    ['<s>[INST] hello [/INST]', [1, 518, 25580, 29962, 22172, 518, 29914, 25580, 29962]],
    [
      '<s>[INST] <<SYS>>\nYou are assistant.\n<</SYS>>\n\nhello [/INST] how can I help you? </s><s>[INST] how much is 2+2? [/INST]',
      [
        1, 518, 25580, 29962, 3532, 14816, 29903, 6778, 13, 3492, 526, 20255, 29889, 13, 29966, 829, 14816, 29903, 6778,
        13, 13, 12199, 518, 29914, 25580, 29962, 920, 508, 306, 1371, 366, 29973, 29871, 2, 1, 518, 25580, 29962, 920,
        1568, 338, 29871, 29906, 29974, 29906, 29973, 518, 29914, 25580, 29962,
      ],
    ],
    [
      '<|user|>\nhello</s>\n<|assistant|>\n',
      [529, 29989, 1792, 29989, 29958, 13, 12199, 2, 29871, 13, 29966, 29989, 465, 22137, 29989, 29958, 13],
    ],
  ];
  it.each(chatPrompts)('encodes the chat prompt %j as LLaMA-2 does', (text, ids) => {
    expect(tokenizer.encode(text, { addBos: false })).toEqual(ids);
  });

  it('encodes like llama-tokenizer-js (an independent BPE on the same data) on Chinese, English, emoji and noise', () => {
    const texts = [
      '<human>:你好，请描述一下这张图片。\n<bot>:',
      '人工智能正在改变我们的生活方式。视觉语言模型可以看图说话！',
      'The llama (/ˈlɑːmə/; 🦙Spanish pronunciation: [ˈʎama]) is a domesticated South American camelid.',
      'mixed 中文 and English, numbers 1234567890, emoji 👍🏽🎉 and rare 鑫龘𠀀 characters',
      '  leading, trailing and   repeated   spaces  ',
      'line one\nline two\r\n\ttabbed\n\n',
    ];
    const random = seededRandom(7);
    const alphabet = Array.from('abcXYZ 你好世界鑫龘。，!?\n\t🦙é0123');
    for (let index = 0; index < 40; index += 1) {
      const length = 1 + Math.floor(random() * 30);
      texts.push(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    }
    for (const text of texts) {
      expect(tokenizer.encode(text), text).toEqual(llamaTokenizer.encode(text));
      expect(tokenizer.decode(tokenizer.encode(text, { addBos: false })), text).toBe(text);
    }
  });
});
