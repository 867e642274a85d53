/** Limits a message's text is checked against. */
export interface TextLimits {
  /**
   * The most characters (Unicode code points) a message may have after cleaning.
   * @defaultValue 4000
   */
  maxChars: number;
  /**
   * Whether an empty text is fine (a message that carries an image).
   * @defaultValue false
   */
  allowEmpty: boolean;
}

/** Default text limits. */
export const defaultTextLimits = { maxChars: 4000, allowEmpty: false } as const satisfies TextLimits;

/** The cleaned text, or the catalog error key (without its `error.` prefix) that says what is wrong. */
export type TextValidation = { ok: true; text: string } | { ok: false; key: 'empty_message' | 'message_too_long' };

// C0/C1 control characters except tab and newline; the invisible bidirectional formatting characters (embeddings,
// overrides, isolates, LRM/RLM/ALM) that can make text display differently from what it says; the byte-order mark.
const controlCharacters = /(?![\t\n])\p{Cc}/gu;
const bidiCharacters = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/gu;

/**
 * The longest raw text (UTF-16 code units) worth cleaning for a limit of `maxChars` characters: cleaning removes
 * control and bidi characters, joins CRLF and composes accents, but a text four times over is too long whatever it
 * removes, and is refused without the work.
 */
export function rawTextLimit(maxChars: number): number {
  return 4 * maxChars + 1024;
}

/** Cleans a message's text (NFC, CRLF → LF, control and bidi characters removed, trimmed) and checks its length. */
export function validateText(text: string, limits: Partial<TextLimits> = {}): TextValidation {
  const { maxChars, allowEmpty } = { ...defaultTextLimits, ...limits };
  if (text.length > rawTextLimit(maxChars)) return { ok: false, key: 'message_too_long' };
  const cleaned = text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(controlCharacters, '')
    .replace(bidiCharacters, '')
    .trim();
  if (cleaned.length === 0 && !allowEmpty) return { ok: false, key: 'empty_message' };
  let characters = 0;
  for (const _character of cleaned) {
    characters += 1;
    if (characters > maxChars) return { ok: false, key: 'message_too_long' };
  }
  return { ok: true, text: cleaned };
}
