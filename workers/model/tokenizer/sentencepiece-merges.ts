import { type SentencePiece, sentencePieceType } from './sentencepiece-model.ts';

interface Candidate {
  left: string;
  right: string;
  score: number;
  leftLength: number;
  rightLength: number;
  pieceId: number;
  leftId: number;
  rightId: number;
}

const mergeableTypes = new Set<number>([sentencePieceType.normal, sentencePieceType.userDefined]);

/**
 * BPE merges that reproduce SentencePiece's BPE encoder, derived from the vocabulary as transformers'
 * `generate_merges` does: every split of a piece into two parts is a merge, ranked by the score of the merged piece
 * (SentencePiece merges the highest-scoring pair first); ties go to the longer left then right part (in characters),
 * then to vocabulary order. As in SentencePiece, only normal and user-defined pieces are merged or merged into (byte,
 * control and unknown pieces never come out of a merge), and a part may also be a lone character outside the
 * vocabulary, since encoding starts from characters.
 */
export function mergesFromPieces(pieces: readonly SentencePiece[]): [string, string][] {
  const ids = new Map<string, number>();
  pieces.forEach((entry, id) => {
    if (mergeableTypes.has(entry.type) && !ids.has(entry.piece)) ids.set(entry.piece, id);
  });
  const partId = (part: string, length: number): number | undefined =>
    ids.get(part) ?? (length === 1 ? pieces.length : undefined);
  const candidates: Candidate[] = [];
  pieces.forEach((entry, pieceId) => {
    if (!mergeableTypes.has(entry.type)) return;
    const characters = Array.from(entry.piece);
    for (let split = 1; split < characters.length; split += 1) {
      const left = characters.slice(0, split).join('');
      const right = characters.slice(split).join('');
      const leftId = partId(left, split);
      const rightId = partId(right, characters.length - split);
      if (leftId === undefined || rightId === undefined) continue;
      candidates.push({
        left,
        right,
        score: entry.score,
        leftLength: split,
        rightLength: characters.length - split,
        pieceId,
        leftId,
        rightId,
      });
    }
  });
  candidates.sort(
    (a, b) =>
      b.score - a.score ||
      b.leftLength - a.leftLength ||
      b.rightLength - a.rightLength ||
      a.pieceId - b.pieceId ||
      a.leftId - b.leftId ||
      a.rightId - b.rightId,
  );
  return candidates.map(({ left, right }) => [left, right]);
}
