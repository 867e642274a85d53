import { mergesFromPieces } from './sentencepiece-merges.ts';
import { parseSentencePieceModel, sentencePieceModelType, sentencePieceType } from './sentencepiece-model.ts';
import { llamaStyleTokenizerJson } from './tokenizer-json.ts';

/**
 * Converts a SentencePiece BPE `tokenizer.model` (LLaMA's and Ziya's format) to a Hugging Face `tokenizer.json`, as
 * transformers' `LlamaConverter` does: the pieces become the BPE vocabulary in id order, merges come from the piece
 * scores, control and user-defined pieces become added tokens (control ones special), and `<0x00>`..`<0xFF>` pieces
 * serve byte fallback when the model was trained with it.
 */
export function sentencePieceToTokenizerJson(modelBytes: Uint8Array): object {
  let model: ReturnType<typeof parseSentencePieceModel>;
  try {
    model = parseSentencePieceModel(modelBytes);
  } catch (error) {
    throw new Error(`not a SentencePiece model: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const { pieces, trainerSpec, normalizerSpec } = model;
  if (pieces.length === 0) throw new Error('not a SentencePiece model: it has no pieces');
  if (trainerSpec.modelType !== sentencePieceModelType.bpe) {
    throw new Error(`only SentencePiece BPE models are supported (model_type ${trainerSpec.modelType})`);
  }
  const unkToken = pieces[trainerSpec.unkId]?.piece;
  if (unkToken === undefined) throw new Error(`SentencePiece unk_id ${trainerSpec.unkId} is not a piece`);
  const addedTokens: { id: number; special: boolean }[] = [];
  pieces.forEach((entry, id) => {
    const isSpecial = entry.type === sentencePieceType.control || entry.type === sentencePieceType.unknown;
    if (isSpecial || entry.type === sentencePieceType.userDefined) addedTokens.push({ id, special: isSpecial });
  });
  return llamaStyleTokenizerJson({
    vocabulary: pieces.map((entry) => entry.piece),
    merges: mergesFromPieces(pieces),
    addedTokens,
    unkToken,
    bosToken: trainerSpec.bosId >= 0 ? (pieces[trainerSpec.bosId]?.piece ?? null) : null,
    byteFallback: trainerSpec.byteFallback,
    addDummyPrefix: normalizerSpec.addDummyPrefix,
    precompiledCharsmap: normalizerSpec.precompiledCharsmap,
    removeExtraWhitespaces: normalizerSpec.removeExtraWhitespaces,
  });
}
