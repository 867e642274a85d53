import type { TextTokenizer } from '../model/tokenizer/text-tokenizer.ts';

/** The tokenizer generation works with (streaming detokenization needs `tokenToId`). */
export type GenerationTokenizer = TextTokenizer;
