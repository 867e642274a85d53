import { type FloatTensor, MissingTensorError, type WeightSource } from './weight-source.ts';

/** How one random tensor is drawn. */
export interface RandomTensorSpec {
  dims: readonly number[];
  /** `normal`: N(mean, std²); `ones`/`zeros`: constants plus N(0, std²) noise when std > 0. */
  init: 'normal' | 'ones' | 'zeros';
  std: number;
  mean?: number;
}

/** FNV-1a over the seed and the tensor name, so each tensor's values depend only on (seed, name). */
function hashSeed(seed: number, name: string): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let index = 0; index < name.length; index++) {
    hash ^= name.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: small, fast, and the same on every platform. */
function mulberry32(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with N(mean, std²) samples (Box–Muller) from a generator seeded by (seed, name). */
export function fillNormal(out: Float32Array, seed: number, name: string, mean: number, std: number): void {
  const uniform = mulberry32(hashSeed(seed, name));
  for (let index = 0; index < out.length; index += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[index] = mean + std * radius * Math.cos(angle);
    if (index + 1 < out.length) out[index + 1] = mean + std * radius * Math.sin(angle);
  }
}

/**
 * Seeded random weights for the named tensors. The same (seed, name, spec) always gives the same values, so the
 * ONNX builder and the GGUF writer used by the llama.cpp oracle see identical weights without sharing a file.
 */
export class RandomWeightSource implements WeightSource {
  readonly description: string;

  constructor(
    private readonly seed: number,
    private readonly specs: ReadonlyMap<string, RandomTensorSpec>,
    label: string,
  ) {
    this.description = `random weights (${label}, seed ${seed})`;
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  get(name: string): FloatTensor {
    const spec = this.specs.get(name);
    if (!spec) throw new MissingTensorError(name, this.description);
    const data = new Float32Array(spec.dims.reduce((product, size) => product * size, 1));
    const base = spec.init === 'ones' ? 1 : 0;
    if (spec.init === 'normal' || spec.std > 0) fillNormal(data, this.seed, name, base + (spec.mean ?? 0), spec.std);
    else data.fill(base);
    return { dims: spec.dims, data };
  }

  /** Every tensor this source can produce, in a stable order. */
  names(): string[] {
    return [...this.specs.keys()];
  }

  close(): void {}
}
