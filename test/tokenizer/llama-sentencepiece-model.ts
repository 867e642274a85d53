import llamaTokenizer from 'llama-tokenizer-js';
import {
  type SentencePiece,
  type SentencePieceModel,
  sentencePieceModelType,
  sentencePieceType,
} from '../../workers/model/tokenizer/sentencepiece-model.ts';

/**
 * LLaMA's vocabulary (from llama-tokenizer-js) as a SentencePiece model, the way Meta's `tokenizer.model` lays it out:
 * `<unk>`, `<s>`, `</s>`, 256 byte pieces, then normal pieces whose scores follow the rank of the first merge that
 * builds them in llama-tokenizer-js's merge list (pieces no merge builds come last). `extraPieces` are appended with
 * score 0, as Chinese vocabulary extensions of LLaMA (Ziya's 39424 pieces among them) append theirs.
 */
export function llamaSentencePieceModel(extraPieces: readonly string[] = []): SentencePieceModel {
  const merges = [...llamaTokenizer.merges.keys()];
  const firstMergeRank = new Map<string, number>();
  merges.forEach((merge, rank) => {
    const piece = merge.replace(' ', '');
    if (!firstMergeRank.has(piece)) firstMergeRank.set(piece, rank);
  });
  const pieces: SentencePiece[] = llamaTokenizer.vocabById.map((piece, id) => {
    if (id === 0) return { piece, score: 0, type: sentencePieceType.unknown };
    if (id <= 2) return { piece, score: 0, type: sentencePieceType.control };
    if (id <= 258) return { piece, score: 0, type: sentencePieceType.byte };
    return { piece, score: -(firstMergeRank.get(piece) ?? merges.length + id), type: sentencePieceType.normal };
  });
  for (const piece of extraPieces) pieces.push({ piece, score: 0, type: sentencePieceType.normal });
  return {
    pieces,
    trainerSpec: {
      modelType: sentencePieceModelType.bpe,
      vocabSize: pieces.length,
      byteFallback: true,
      unkId: 0,
      bosId: 1,
      eosId: 2,
      padId: -1,
      unkPiece: '<unk>',
      bosPiece: '<s>',
      eosPiece: '</s>',
      padPiece: '<pad>',
    },
    normalizerSpec: {
      name: 'identity',
      precompiledCharsmap: new Uint8Array(),
      addDummyPrefix: true,
      removeExtraWhitespaces: false,
      escapeWhitespaces: true,
    },
  };
}
