import type { TextTokenizer } from './text-tokenizer.ts';

/** Options of {@link StreamingDetokenizer}. */
export interface StreamingDetokenizerOptions {
  /**
   * Leave out special tokens (`</s>` and the like), as a chat reply should.
   * @defaultValue true
   */
  skipSpecialTokens?: boolean;
}

const replacementCharacter = '\uFFFD';
const anchorCandidates = ['a', 'e', 'x', '0', '.', ','];

/**
 * Turns generated token ids into text as they come. The text pushed out so far always equals
 * `tokenizer.decode(allIds)` up to the tokens still held back: a token whose text could still change (the first
 * bytes of a character split over byte-fallback tokens, which decode to U+FFFD until complete) waits for the next
 * ones, so a reply never shows a broken character. Each push decodes only the tokens not yet turned into text.
 */
export class StreamingDetokenizer {
  readonly #tokenizer: TextTokenizer;
  readonly #skipSpecialTokens: boolean;
  readonly #anchorId: number | undefined;
  readonly #anchorText: string;
  /** Tokens not yet turned into text; all of them while no text has come out, so the leading space is stripped once. */
  #pendingIds: number[] = [];
  #text = '';

  /** Wraps a tokenizer; `options.skipSpecialTokens` as in {@link TextTokenizer.decode}. */
  constructor(tokenizer: TextTokenizer, options: StreamingDetokenizerOptions = {}) {
    this.#tokenizer = tokenizer;
    this.#skipSpecialTokens = options.skipSpecialTokens ?? true;
    // Decoding the pending tokens after a plain letter keeps the decoder from stripping their leading space, which
    // SentencePiece removes only at the very start of the text.
    let anchorId: number | undefined;
    let anchorText = '';
    for (const candidate of anchorCandidates) {
      const id = tokenizer.tokenToId(candidate);
      if (id !== undefined && tokenizer.decode([id], { skipSpecialTokens: true }) === candidate) {
        anchorId = id;
        anchorText = candidate;
        break;
      }
    }
    this.#anchorId = anchorId;
    this.#anchorText = anchorText;
  }

  /** Adds one generated token and returns the text it completes (often empty while a character is incomplete). */
  push(tokenId: number): string {
    this.#pendingIds.push(tokenId);
    const pendingText = this.#decodePending();
    if (pendingText === undefined || pendingText.endsWith(replacementCharacter)) return '';
    return this.#emit(pendingText);
  }

  /** Returns the text of the tokens still held back (an incomplete character shows as U+FFFD), at the end. */
  flush(): string {
    return this.#emit(this.#decodePending() ?? '');
  }

  /** All text returned by `push` and `flush` so far. */
  get text(): string {
    return this.#text;
  }

  #emit(pendingText: string): string {
    this.#text += pendingText;
    if (this.#text.length > 0 && this.#anchorId !== undefined) this.#pendingIds = [];
    return pendingText;
  }

  /** The text the pending tokens add to the text so far, or undefined when that cannot be told yet. */
  #decodePending(): string | undefined {
    if (this.#pendingIds.length === 0) return '';
    const options = { skipSpecialTokens: this.#skipSpecialTokens };
    if (this.#text.length === 0 || this.#anchorId === undefined) {
      // Pending holds every token so far: the start of the text, or a tokenizer without a usable anchor (slow path).
      const decoded = this.#tokenizer.decode(this.#pendingIds, options);
      return decoded.startsWith(this.#text) ? decoded.slice(this.#text.length) : undefined;
    }
    const decoded = this.#tokenizer.decode([this.#anchorId, ...this.#pendingIds], options);
    return decoded.startsWith(this.#anchorText) ? decoded.slice(this.#anchorText.length) : undefined;
  }
}
