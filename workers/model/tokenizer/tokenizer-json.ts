/** The space marker SentencePiece writes in pieces (U+2581). */
export const spaceMarker = '\u2581';

/** One entry of `added_tokens` in a Hugging Face `tokenizer.json`. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The parts of a SentencePiece-style BPE vocabulary that a LLaMA `tokenizer.json` is made of. */
export interface LlamaTokenizerParts {
  /** Pieces in id order (`▁` for spaces, `<0xAB>` byte pieces). */
  vocabulary: readonly string[];
  /** BPE merges, highest priority first. */
  merges: readonly (readonly [string, string])[];
  /** Pieces matched as whole tokens before BPE (control and user-defined pieces), with whether they are special. */
  addedTokens: readonly { id: number; special: boolean }[];
  /** The unknown piece (`<unk>`). */
  unkToken: string;
  /** The piece put before every encoded text when BOS is asked for (`<s>`), or null for none. */
  bosToken: string | null;
  /** Whether pieces `<0x00>`..`<0xFF>` stand for the bytes of characters outside the vocabulary. */
  byteFallback: boolean;
  /** SentencePiece's `add_dummy_prefix`: a space is put before the text, so "Hi" and " Hi" in context match. */
  addDummyPrefix: boolean;
  /** SentencePiece's `precompiled_charsmap` (empty for LLaMA's identity normalization). */
  precompiledCharsmap: Uint8Array;
  /** SentencePiece's `remove_extra_whitespaces` (false for LLaMA). */
  removeExtraWhitespaces: boolean;
}

/**
 * Builds the `tokenizer.json` that transformers' `LlamaConverter` writes (legacy LLaMA-2 layout): BPE with byte
 * fallback and fused unknowns, a `Prepend("▁")`/`Replace(" ", "▁")` normalizer and no pre-tokenizer (so the text is
 * merged as one word, as SentencePiece does), a BOS template, and the Replace/ByteFallback/Fuse/Strip decoder.
 */
export function llamaStyleTokenizerJson(parts: LlamaTokenizerParts): object {
  // A Map, not `piece in object`: pieces such as "constructor" or "__proto__" must not meet Object.prototype.
  const ids = new Map<string, number>();
  parts.vocabulary.forEach((piece, id) => {
    if (!ids.has(piece)) ids.set(piece, id);
  });
  const vocab: Record<string, number> = Object.fromEntries(ids);
  const normalizers: object[] = [];
  if (parts.precompiledCharsmap.length > 0) {
    normalizers.push({
      type: 'Precompiled',
      precompiled_charsmap: Buffer.from(parts.precompiledCharsmap).toString('base64'),
    });
  }
  if (parts.removeExtraWhitespaces) {
    normalizers.push(
      { type: 'Strip', strip_left: true, strip_right: true },
      { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
    );
  }
  if (parts.addDummyPrefix) normalizers.push({ type: 'Prepend', prepend: spaceMarker });
  normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: spaceMarker });
  const decoders: object[] = [{ type: 'Replace', pattern: { String: spaceMarker }, content: ' ' }];
  if (parts.byteFallback) decoders.push({ type: 'ByteFallback' });
  decoders.push({ type: 'Fuse' });
  if (parts.addDummyPrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  const bosId = parts.bosToken === null ? undefined : ids.get(parts.bosToken);
  const postProcessor =
    parts.bosToken === null || bosId === undefined
      ? null
      : {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: parts.bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: parts.bosToken, type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: parts.bosToken, type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { [parts.bosToken]: { id: parts.bosToken, ids: [bosId], tokens: [parts.bosToken] } },
        };
  const addedTokens: AddedTokenJson[] = parts.addedTokens.map(({ id, special }) => ({
    id,
    content: parts.vocabulary[id] ?? '',
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    post_processor: postProcessor,
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: parts.unkToken,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: parts.byteFallback,
      ignore_merges: false,
      vocab,
      merges: parts.merges.map(([left, right]) => [left, right]),
    },
  };
}
