import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

/** Options of {@link TextTokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Put the BOS token first, as LLaMA's tokenizer does by default.
   * @defaultValue true
   */
  addBos?: boolean;
}

/** Options of {@link TextTokenizer.decode}. */
export interface DecodeOptions {
  /**
   * Leave out special tokens (`<s>`, `</s>`, `<unk>`).
   * @defaultValue false
   */
  skipSpecialTokens?: boolean;
}

/** Text ↔ token ids for one model. */
export interface TextTokenizer {
  /** One more than the largest token id. */
  readonly vocabSize: number;
  /** The beginning-of-sequence token id. */
  readonly bosTokenId: number;
  /** The end-of-sequence token id. */
  readonly eosTokenId: number;
  /** Token ids of a whole text (a prompt is encoded once, so SentencePiece's dummy space is put only at its start). */
  encode(text: string, options?: EncodeOptions): number[];
  /** The text of token ids; the inverse of `encode` for text without special tokens. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The id of a piece such as `<s>` or `▁Hello`, if the vocabulary has it. */
  tokenToId(token: string): number | undefined;
}

interface TokenizerConfig {
  bos_token?: unknown;
  eos_token?: unknown;
  [key: string]: unknown;
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read tokenizer file ${path}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(
      `tokenizer file ${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function readOptionalJson(path: string): Promise<unknown> {
  try {
    await stat(path);
  } catch {
    return undefined;
  }
  return readJson(path);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `tokenizer_config.json` writes special tokens as a string or as an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.content === 'string') return value.content;
  return undefined;
}

class HuggingFaceTextTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly #tokenizer: Tokenizer;

  constructor(tokenizer: Tokenizer, config: TokenizerConfig, path: string) {
    this.#tokenizer = tokenizer;
    let largestId = -1;
    for (const id of tokenizer.get_vocab(true).values()) largestId = Math.max(largestId, id);
    this.vocabSize = largestId + 1;
    const bosToken = tokenContent(config.bos_token) ?? '<s>';
    const eosToken = tokenContent(config.eos_token) ?? '</s>';
    const bosTokenId = tokenizer.token_to_id(bosToken);
    const eosTokenId = tokenizer.token_to_id(eosToken);
    if (bosTokenId === undefined) throw new Error(`tokenizer file ${path} has no BOS token ${bosToken}`);
    if (eosTokenId === undefined) throw new Error(`tokenizer file ${path} has no EOS token ${eosToken}`);
    this.bosTokenId = bosTokenId;
    this.eosTokenId = eosTokenId;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    // BOS is put here rather than by the file's post-processor, so every tokenizer.json behaves the same.
    const ids = text.length === 0 ? [] : this.#tokenizer.encode(text, { add_special_tokens: false }).ids;
    return (options.addBos ?? true) ? [this.bosTokenId, ...ids] : ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0) throw new RangeError(`not a token id: ${id}`);
    }
    // Tokenization-space clean-up (" ." → ".") would change the text SentencePiece decodes and break streaming.
    return this.#tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }
}

/**
 * Loads a Hugging Face `tokenizer.json` (a file, or a directory holding one) with `@huggingface/tokenizers`, plus the
 * `tokenizer_config.json` beside it when there is one (for the BOS/EOS token names).
 */
export async function loadTokenizer(path: string): Promise<TextTokenizer> {
  let tokenizerPath = path;
  try {
    if ((await stat(path)).isDirectory()) tokenizerPath = join(path, 'tokenizer.json');
  } catch {
    // readJson reports the missing file by name.
  }
  const tokenizerJson = await readJson(tokenizerPath);
  const configPath = join(dirname(tokenizerPath), 'tokenizer_config.json');
  const config = (await readOptionalJson(configPath)) ?? {};
  if (!isRecord(tokenizerJson) || !isRecord(tokenizerJson.model)) {
    throw new Error(`tokenizer file ${tokenizerPath} has no "model" object`);
  }
  if (!isRecord(config)) throw new Error(`tokenizer file ${configPath} is not a JSON object`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(
      {
        normalizer: null,
        pre_tokenizer: null,
        post_processor: null,
        decoder: null,
        added_tokens: [],
        ...tokenizerJson,
      },
      config,
    );
  } catch (error) {
    throw new Error(
      `tokenizer file ${tokenizerPath} cannot be loaded: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return new HuggingFaceTextTokenizer(tokenizer, config, tokenizerPath);
}
