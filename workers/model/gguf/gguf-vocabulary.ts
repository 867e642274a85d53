/** llama.cpp token kinds (`llama_token_type`). */
export const ggufTokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** The `tokenizer.ggml.*` arrays of a SentencePiece-style ("llama") vocabulary. */
export interface GgufVocabulary {
  /** Pieces by id, SentencePiece spelling (`▁the`, `<0x0A>`). */
  tokens: string[];
  /** Merge priority per token: higher merges first. */
  scores: Float32Array;
  tokenTypes: Int32Array;
  bosTokenId: number;
  eosTokenId: number;
  unknownTokenId: number;
  padTokenId: number;
}

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges?: (string | [string, string])[]; unk_token?: string | null };
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

function isTokenizerJson(value: unknown): value is TokenizerJson {
  const model = (value as { model?: { vocab?: unknown } } | null)?.model;
  return typeof model?.vocab === 'object' && model.vocab !== null;
}

const bytePiece = /^<0x[0-9A-F]{2}>$/;

/**
 * Converts a Hugging Face `tokenizer.json` (LLaMA's byte-fallback BPE) to GGUF's SentencePiece arrays. Scores come
 * from merge ranks (the first merge scores highest), which is the order SentencePiece's LLaMA scores encode. Ids
 * beyond the file's vocabulary (a model whose embedding is larger) become unused padding pieces.
 */
export function vocabularyFromTokenizerJson(
  json: unknown,
  vocabSize: number,
  special: { bosTokenId: number; eosTokenId: number; padTokenId: number },
): GgufVocabulary {
  if (!isTokenizerJson(json)) throw new Error('tokenizer.json has no model.vocab');
  const tokens = Array.from({ length: vocabSize }, (_, id) => `[PAD${id}]`);
  const tokenTypes = new Int32Array(vocabSize).fill(ggufTokenType.unused);
  const scores = new Float32Array(vocabSize);
  const known = new Set<number>();
  for (const [piece, id] of Object.entries(json.model.vocab)) {
    if (id >= vocabSize) continue;
    tokens[id] = piece;
    tokenTypes[id] = bytePiece.test(piece) ? ggufTokenType.byte : ggufTokenType.normal;
    known.add(id);
  }
  const merges = json.model.merges ?? [];
  const mergedScore = new Map<string, number>();
  merges.forEach((merge, rank) => {
    const [left, right] = typeof merge === 'string' ? merge.split(' ') : merge;
    const piece = `${left ?? ''}${right ?? ''}`;
    if (!mergedScore.has(piece)) mergedScore.set(piece, -rank);
  });
  for (const id of known) {
    const type = tokenTypes[id];
    if (type === ggufTokenType.normal) scores[id] = mergedScore.get(tokens[id]!) ?? -(merges.length + id);
  }
  let unknownTokenId = 0;
  for (const added of json.added_tokens ?? []) {
    if (added.id >= vocabSize) continue;
    tokens[added.id] = added.content;
    tokenTypes[added.id] = added.special ? ggufTokenType.control : ggufTokenType.userDefined;
    scores[added.id] = 0;
    if (added.content === (json.model.unk_token ?? '<unk>')) {
      tokenTypes[added.id] = ggufTokenType.unknown;
      unknownTokenId = added.id;
    }
  }
  return { tokens, scores, tokenTypes, unknownTokenId, ...special };
}

/**
 * A stand-in vocabulary with LLaMA's layout (`<unk>`, `<s>`, `</s>`, the 256 byte pieces, then placeholder pieces),
 * for exporting weights when no tokenizer is at hand: llama.cpp needs the byte pieces to load a "llama" vocabulary.
 */
export function placeholderVocabulary(vocabSize: number): GgufVocabulary {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  for (let byte = 0; byte < 256; byte++) tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (let id = tokens.length; id < vocabSize; id++) tokens.push(`▁t${id}`);
  const tokenTypes = new Int32Array(vocabSize).fill(ggufTokenType.normal);
  tokenTypes[0] = ggufTokenType.unknown;
  tokenTypes[1] = ggufTokenType.control;
  tokenTypes[2] = ggufTokenType.control;
  tokenTypes.fill(ggufTokenType.byte, 3, 259);
  const scores = new Float32Array(vocabSize);
  for (let id = 259; id < vocabSize; id++) scores[id] = -id;
  return {
    tokens: tokens.slice(0, vocabSize),
    scores,
    tokenTypes,
    bosTokenId: 1,
    eosTokenId: 2,
    unknownTokenId: 0,
    padTokenId: 0,
  };
}
