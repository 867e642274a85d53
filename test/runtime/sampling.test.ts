import { describe, expect, it } from 'vitest';
import {
  applyRepetitionPenalty,
  argmax,
  type SamplingSettings,
  sampleToken,
  samplingDistribution,
} from '../../workers/runtime/sampling.ts';
import { createSeededRandom } from '../../workers/runtime/seeded-random.ts';

const sampling = { temperature: 1, topP: 1, topK: 0, repetitionPenalty: 1, doSample: true } satisfies SamplingSettings;

function softmax(values: readonly number[]): number[] {
  const maximum = Math.max(...values);
  const exps = values.map((value) => Math.exp(value - maximum));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
}

describe('repetition penalty', () => {
  it('divides positive and multiplies negative logits of seen tokens, once each', () => {
    const logits = Float32Array.from([2, -2, 3, 0.5]);
    applyRepetitionPenalty(logits, [0, 1, 1, 1, 3], 2);
    expect([...logits]).toEqual([1, -4, 3, 0.25]);
  });

  it('is a no-op at 1 and ignores ids outside the vocabulary', () => {
    const logits = Float32Array.from([2, -2]);
    applyRepetitionPenalty(logits, [0, 1], 1);
    applyRepetitionPenalty(logits, [7, -1], 3);
    expect([...logits]).toEqual([2, -2]);
  });

  it('can change the greedy choice', () => {
    const settings = { ...sampling, doSample: false, repetitionPenalty: 1.5 };
    expect(sampleToken(Float32Array.from([1, 3, 2.5]), settings, [], createSeededRandom(1))).toBe(1);
    expect(sampleToken(Float32Array.from([1, 3, 2.5]), settings, [1], createSeededRandom(1))).toBe(2);
  });
});

describe('greedy', () => {
  it('is argmax when doSample is false or temperature is 0', () => {
    const random = createSeededRandom(3);
    for (let trial = 0; trial < 20; trial++) {
      const logits = Float32Array.from({ length: 50 }, () => random() * 10 - 5);
      const expected = argmax(logits);
      expect(logits[expected]).toBe(Math.max(...logits));
      expect(sampleToken(logits.slice(), { ...sampling, doSample: false }, [], random)).toBe(expected);
      expect(sampleToken(logits.slice(), { ...sampling, temperature: 0 }, [], random)).toBe(expected);
    }
  });
});

describe('distribution', () => {
  const logits = Float32Array.from([1, 4, 2, 3, 0]);

  it('temperature rescales the softmax', () => {
    const distribution = samplingDistribution(logits, { temperature: 2, topK: 0, topP: 1 });
    const expected = softmax([...logits].map((value) => value / 2));
    expect(distribution).toHaveLength(5);
    for (const { tokenId, probability } of distribution) expect(probability).toBeCloseTo(expected[tokenId]!, 6);
  });

  it('top-k keeps the k most likely tokens, renormalized', () => {
    const distribution = samplingDistribution(logits, { temperature: 1, topK: 2, topP: 1 });
    expect(distribution.map((candidate) => candidate.tokenId)).toEqual([1, 3]);
    const expected = softmax([4, 3]);
    expect(distribution[0]!.probability).toBeCloseTo(expected[0]!, 6);
    expect(distribution[1]!.probability).toBeCloseTo(expected[1]!, 6);
  });

  it('top-p keeps the smallest set reaching p (Hugging Face semantics)', () => {
    const probabilities = softmax([...logits]); // token 1: .636, 3: .234, 2: .086, 0: .032, 4: .012
    const nucleus = (topP: number) =>
      samplingDistribution(logits, { temperature: 1, topK: 0, topP }).map((candidate) => candidate.tokenId);
    expect(nucleus(0.5)).toEqual([1]);
    expect(nucleus(probabilities[1]! + 0.01)).toEqual([1, 3]);
    expect(nucleus(0.95)).toEqual([1, 3, 2]); // tokens 0 and 4 hold .043 <= .05
    expect(nucleus(0.97)).toEqual([1, 3, 2, 0]);
    // min_tokens_to_keep = 1: a tiny p still keeps the best token.
    expect(nucleus(1e-9)).toEqual([1]);
  });

  it('top-p applies to the top-k survivors, as in Hugging Face (k first, then p)', () => {
    // Among the top 2, token 1 holds .731: p = 0.7 keeps only it, p = 0.75 keeps both.
    expect(samplingDistribution(logits, { temperature: 1, topK: 2, topP: 0.7 }).map((c) => c.tokenId)).toEqual([1]);
    expect(samplingDistribution(logits, { temperature: 1, topK: 2, topP: 0.75 }).map((c) => c.tokenId)).toEqual([1, 3]);
  });

  it('matches a brute-force filter on a large vocabulary', () => {
    const random = createSeededRandom(11);
    const vocabulary = 3000;
    const big = Float32Array.from({ length: vocabulary }, () => (random() - 0.5) * 12);
    for (const settings of [
      { temperature: 0.7, topK: 0, topP: 0.9 },
      { temperature: 1.3, topK: 40, topP: 0.8 },
      { temperature: 1, topK: 5, topP: 1 },
      { temperature: 0.7, topK: 0, topP: 0.1 },
      { temperature: 0.2, topK: 0, topP: 0.999 },
    ]) {
      const probabilities = softmax([...big].map((value) => value / settings.temperature));
      let order = [...probabilities.keys()].sort((a, b) => probabilities[b]! - probabilities[a]!);
      if (settings.topK > 0) order = order.slice(0, settings.topK);
      const mass = order.reduce((total, id) => total + probabilities[id]!, 0);
      const kept: number[] = [];
      let cumulative = 0;
      for (const id of order) {
        if (cumulative >= settings.topP - 1e-12 && kept.length > 0) break;
        kept.push(id);
        cumulative += probabilities[id]! / mass;
      }
      const distribution = samplingDistribution(big, settings);
      expect(distribution.map((candidate) => candidate.tokenId)).toEqual(kept);
      const total = distribution.reduce((sum, candidate) => sum + candidate.probability, 0);
      expect(total).toBeCloseTo(1, 9);
    }
  });
});

describe('sampling', () => {
  it('the same seed reproduces the same tokens, another seed differs', () => {
    const logits = Float32Array.from({ length: 100 }, (_, index) => Math.sin(index));
    const draw = (seed: number) => {
      const random = createSeededRandom(seed);
      return Array.from({ length: 30 }, () => sampleToken(logits.slice(), sampling, [], random));
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('frequencies follow the distribution', () => {
    const logits = Float32Array.from([0, Math.log(3), Math.log(6)]);
    const random = createSeededRandom(5);
    const counts = [0, 0, 0];
    const draws = 20_000;
    for (let draw = 0; draw < draws; draw++) counts[sampleToken(logits.slice(), sampling, [], random)]!++;
    expect(counts[0]! / draws).toBeCloseTo(0.1, 1);
    expect(counts[1]! / draws).toBeCloseTo(0.3, 1);
    expect(counts[2]! / draws).toBeCloseTo(0.6, 1);
  });

  it('never samples a token removed by top-k', () => {
    const logits = Float32Array.from([5, 4, 3, 2, 1, 0]);
    const random = createSeededRandom(9);
    for (let draw = 0; draw < 500; draw++) {
      expect(sampleToken(logits.slice(), { ...sampling, topK: 2 }, [], random)).toBeLessThan(2);
    }
  });

  it('random numbers are uniform in [0, 1)', () => {
    const random = createSeededRandom(0);
    const values = Array.from({ length: 10_000 }, () => random());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    expect(values.reduce((sum, value) => sum + value, 0) / values.length).toBeCloseTo(0.5, 1);
    const lowerHalf = values.filter((value) => value < 0.5).length / values.length;
    expect(lowerHalf).toBeCloseTo(0.5, 1);
  });
});
