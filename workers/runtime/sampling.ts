import type { RandomSource } from './seeded-random.ts';

/** How the next token is chosen from the logits. */
export interface SamplingSettings {
  /** Divides the logits; 0 means greedy. */
  temperature: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens whose probability reaches `topP`; 1 disables. */
  topP: number;
  /** Keep only the `topK` most likely tokens; 0 disables. */
  topK: number;
  /** Hugging Face repetition penalty over earlier tokens: positive logits divided, negative multiplied; 1 disables. */
  repetitionPenalty: number;
  /** False: always the most likely token (greedy). */
  doSample: boolean;
}

/**
 * Applies the repetition penalty in place to every token in `tokenIds` (each token once, as Hugging Face's
 * `RepetitionPenaltyLogitsProcessor` does).
 */
export function applyRepetitionPenalty(logits: Float32Array, tokenIds: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (const id of tokenIds) {
    if (seen.has(id) || id < 0 || id >= logits.length) continue;
    seen.add(id);
    const value = logits[id]!;
    logits[id] = value < 0 ? value * penalty : value / penalty;
  }
}

/** Index of the largest value (the first one on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    if (value > bestValue) {
      bestValue = value;
      best = index;
    }
  }
  return best;
}

/** One candidate token with its (filtered, renormalized) probability. */
export interface TokenProbability {
  tokenId: number;
  probability: number;
}

/**
 * The distribution sampling draws from after temperature, top-k and top-p (in Hugging Face's order), as candidates
 * sorted by descending probability. The logits should already carry the repetition penalty.
 */
export function samplingDistribution(
  logits: Float32Array,
  settings: Pick<SamplingSettings, 'temperature' | 'topK' | 'topP'>,
): TokenProbability[] {
  const vocabularySize = logits.length;
  const temperature = settings.temperature;
  let maximum = Number.NEGATIVE_INFINITY;
  for (let index = 0; index < vocabularySize; index++) maximum = Math.max(maximum, logits[index]!);

  // Softmax over all tokens first: top-k and top-p only remove tokens, and the kept ones are renormalized at the end,
  // which is what masking logits to -inf and taking a softmax afterwards amounts to.
  const probabilities = new Float64Array(vocabularySize);
  let sum = 0;
  for (let index = 0; index < vocabularySize; index++) {
    const probability = Math.exp((logits[index]! - maximum) / temperature);
    probabilities[index] = probability;
    sum += probability;
  }
  for (let index = 0; index < vocabularySize; index++) probabilities[index]! /= sum;

  const topK = settings.topK > 0 ? Math.min(settings.topK, vocabularySize) : vocabularySize;
  const topP = settings.topP;
  let candidates = collectCandidates(probabilities, topK, topP);
  if (candidates.length > topK) {
    // Hugging Face keeps every token whose logit ties the k-th one.
    const threshold = probabilities[candidates[topK - 1]!]!;
    let end = topK;
    while (end < candidates.length && probabilities[candidates[end]!]! >= threshold) end++;
    candidates = candidates.slice(0, end);
  }

  let keptMass = 0;
  for (const id of candidates) keptMass += probabilities[id]!;
  if (topP < 1) {
    // Hugging Face's TopPLogitsWarper: sorted ascending, drop the tokens whose cumulative probability (within the
    // top-k survivors, renormalized) is at most 1 - topP; the most likely token always stays.
    // Without top-k the tokens left out by `collectCandidates` count towards the ascending sum (they are all removed).
    const setMass = topK < vocabularySize ? keptMass : 1;
    let ascendingMass = (setMass - keptMass) / setMass;
    let cut = candidates.length;
    for (let position = candidates.length - 1; position >= 1; position--) {
      ascendingMass += probabilities[candidates[position]!]! / setMass;
      if (ascendingMass > 1 - topP) break;
      cut = position;
    }
    candidates = candidates.slice(0, cut);
    keptMass = 0;
    for (const id of candidates) keptMass += probabilities[id]!;
  }
  return candidates.map((tokenId) => ({ tokenId, probability: probabilities[tokenId]! / keptMass }));
}

/**
 * Picks the next token. `logits` is modified in place (repetition penalty). `history` is what the penalty applies
 * to: the prompt's text tokens and the tokens generated so far.
 */
export function sampleToken(
  logits: Float32Array,
  settings: SamplingSettings,
  history: Iterable<number>,
  random: RandomSource,
): number {
  applyRepetitionPenalty(logits, history, settings.repetitionPenalty);
  if (!settings.doSample || settings.temperature <= 0) return argmax(logits);
  const distribution = samplingDistribution(logits, settings);
  let draw = random();
  for (const candidate of distribution) {
    draw -= candidate.probability;
    if (draw < 0) return candidate.tokenId;
  }
  return distribution[distribution.length - 1]!.tokenId;
}

/**
 * Token ids sorted by descending probability, leaving out tokens that top-k and top-p would remove anyway, so that
 * only a few candidates are sorted. The set {p >= threshold} is exact when it holds at least k tokens (top-k keeps
 * none below it) or, without top-k, when its mass reaches topP (every token below it then has at least topP above
 * it, which is what top-p removes). The threshold starts near the best token and drops until one of these holds.
 */
function collectCandidates(probabilities: Float64Array, topK: number, topP: number): number[] {
  const vocabularySize = probabilities.length;
  const byProbability = (left: number, right: number) => probabilities[right]! - probabilities[left]! || left - right;
  const everything = () => Array.from({ length: vocabularySize }, (_, index) => index);
  const useTopK = topK < vocabularySize;
  if (!useTopK && topP >= 1) return everything();
  let best = 0;
  for (let index = 0; index < vocabularySize; index++) best = Math.max(best, probabilities[index]!);
  for (let threshold = best / 64; threshold > 1e-300; threshold /= 64) {
    const candidates: number[] = [];
    let mass = 0;
    for (let index = 0; index < vocabularySize; index++) {
      const probability = probabilities[index]!;
      if (probability >= threshold) {
        candidates.push(index);
        mass += probability;
      }
    }
    if (useTopK ? candidates.length >= topK : mass >= topP) return candidates.sort(byProbability);
  }
  return everything().sort(byProbability);
}
