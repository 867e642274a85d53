/** A source of uniform numbers in [0, 1); the same seed gives the same sequence. */
export type RandomSource = () => number;

/**
 * Seeded PRNG (splitmix32-style mixing of a Weyl sequence). Fast, 32-bit state, and good enough for sampling; not
 * for anything security related.
 */
export function createSeededRandom(seed: number): RandomSource {
  let state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x21f0aaad);
    mixed = Math.imul(mixed ^ (mixed >>> 15), 0x735a2d97);
    mixed = (mixed ^ (mixed >>> 15)) >>> 0;
    return mixed / 4294967296;
  };
}
