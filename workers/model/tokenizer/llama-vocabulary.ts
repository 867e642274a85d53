import llamaTokenizer from 'llama-tokenizer-js';
import { llamaStyleTokenizerJson } from './tokenizer-json.ts';

/**
 * LLaMA's own 32000-piece vocabulary and merges (the ones llama-tokenizer-js ships, extracted from Meta's
 * `tokenizer.json`) as a Hugging Face `tokenizer.json`: `<unk>`=0, `<s>`=1, `</s>`=2, byte pieces 3..258. Random-weight
 * presets get this real vocabulary so that Chinese, English and emoji prompts tokenize as the LLaMA family does.
 */
export function llamaTokenizerJson(): object {
  return llamaStyleTokenizerJson({
    vocabulary: llamaTokenizer.vocabById,
    // The Map keeps the insertion order of the shipped data, which is the merge priority order.
    merges: [...llamaTokenizer.merges.keys()].map((merge) => {
      const [left = '', right = ''] = merge.split(' ');
      return [left, right] as const;
    }),
    addedTokens: [
      { id: 0, special: true },
      { id: 1, special: true },
      { id: 2, special: true },
    ],
    unkToken: '<unk>',
    bosToken: '<s>',
    byteFallback: true,
    addDummyPrefix: true,
    precompiledCharsmap: new Uint8Array(),
    removeExtraWhitespaces: false,
  });
}
