import type { TextConfig } from '../config.ts';
import { llamaGlobalTensorNames, llamaWeightSpecs } from './llama-weight-specs.ts';
import { type FloatTensor, MissingTensorError, type WeightSource } from './weight-source.ts';

/** A delta cannot be applied to this base: another architecture, a tensor missing or of the wrong shape. */
export class DeltaMismatchError extends Error {
  override readonly name = 'DeltaMismatchError';
}

/** A weight source that can tell a tensor's shape without reading it (safetensors headers, pickle records). */
interface ShapedSource extends WeightSource {
  dims(name: string): readonly number[] | undefined;
}

function hasDims(source: WeightSource): source is ShapedSource {
  return typeof (source as Partial<ShapedSource>).dims === 'function';
}

/**
 * The tensors whose rows are tokens. IDEA-CCNL's `make_delta.py` leaves them out of the difference and its
 * `apply_delta.py` copies them from the delta: the delta holds them whole, all 39424 rows, and the base's are unused.
 */
const wholeInDelta: ReadonlySet<string> = new Set([
  llamaGlobalTensorNames.embedding,
  llamaGlobalTensorNames.languageModelHead,
]);

const sameDims = (left: readonly number[], right: readonly number[]) =>
  left.length === right.length && left.every((size, axis) => size === right[axis]);

const describeGeometry = (config: TextConfig) =>
  `hidden ${config.hiddenSize}, ${config.numLayers} layers, ${config.numHeads} heads ` +
  `(${config.numKvHeads} key/value), MLP ${config.intermediateSize}, vocabulary ${config.vocabSize}`;

/**
 * Applies published delta weights (Ziya-LLaMA-13B-v1 on Meta's LLaMA-13B) while the builder reads them, the way
 * the publisher's `fengshen/utils/apply_delta.py` (Fengshenbang-LM) does: target = base + delta for every tensor
 * but the embedding and `lm_head`, which the delta holds whole (39424 rows, the 32000 of LLaMA's vocabulary
 * included) and which are taken from it alone. Tensors are summed one at a time in float32, so a delta build holds
 * at most one base tensor more than a plain build: the largest is an MLP matrix (13824 × 5120 × 4 B = 283 MB for
 * LLaMA-13B), never a whole model.
 */
export class DeltaWeightSource implements WeightSource {
  readonly description: string;

  constructor(
    private readonly base: WeightSource,
    private readonly delta: WeightSource,
  ) {
    this.description = `${delta.description} + base ${base.description}`;
  }

  has(name: string): boolean {
    return this.delta.has(name) && this.base.has(name);
  }

  get(name: string): FloatTensor {
    const delta = this.delta.get(name);
    if (wholeInDelta.has(name)) return delta;
    const base = this.base.get(name);
    if (!sameDims(base.dims, delta.dims)) {
      throw new DeltaMismatchError(
        `tensor ${name} is [${base.dims.join(', ')}] in the base (${this.base.description}) ` +
          `but [${delta.dims.join(', ')}] in the delta (${this.delta.description})`,
      );
    }
    const sum = delta.data;
    const baseData = base.data;
    for (let index = 0; index < baseData.length; index++) sum[index] = (sum[index] ?? 0) + (baseData[index] ?? 0);
    return { dims: delta.dims, data: sum };
  }

  close(): void {
    this.delta.close();
    this.base.close();
  }
}

/** A checkpoint's architecture and where it is, for the messages of the checks below. */
export interface DescribedConfig {
  config: TextConfig;
  description: string;
}

/**
 * Refuses a base whose architecture is not the delta's (Ziya's delta needs LLaMA-13B) or whose vocabulary is
 * larger. Needs only the two `config.json`s, so it runs before the weights are downloaded.
 */
export function checkDeltaGeometry(base: DescribedConfig, delta: DescribedConfig): void {
  const fields = ['hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'intermediateSize'] as const;
  const differing = fields.filter((field) => base.config[field] !== delta.config[field]);
  if (differing.length > 0 || base.config.vocabSize > delta.config.vocabSize) {
    throw new DeltaMismatchError(
      `the base ${base.description} is a LLaMA with ${describeGeometry(base.config)}, but the delta is for ` +
        `${describeGeometry(delta.config)}${delta.config.hiddenSize === 5120 ? ' (LLaMA-13B)' : ''}: ` +
        'give --delta-base the LLaMA the delta was made from',
    );
  }
}

/**
 * Refuses a base and a delta that cannot make the model, before any tensor is converted: `checkDeltaGeometry`,
 * then both must hold every tensor the build reads, with the shapes their configs imply where the format tells
 * shapes without reading. The error names the first tensor that differs.
 */
export function checkDeltaApplies(
  base: { config: TextConfig; weights: WeightSource },
  delta: { config: TextConfig; weights: WeightSource },
): void {
  checkDeltaGeometry(
    { config: base.config, description: base.weights.description },
    { config: delta.config, description: delta.weights.description },
  );
  for (const [side, { config, weights }] of [
    ['base', base],
    ['delta', delta],
  ] as const) {
    const specs = llamaWeightSpecs(config);
    const missing = [...specs.keys()].filter((name) => !weights.has(name));
    if (missing.length > 0) {
      throw new MissingTensorError(
        missing[0]!,
        `the ${side} ${weights.description}`,
        `not found${missing.length > 1 ? ` (nor ${missing.length - 1} more)` : ''}`,
      );
    }
    if (!hasDims(weights)) continue;
    for (const [name, spec] of specs) {
      const dims = weights.dims(name);
      if (dims !== undefined && !sameDims(dims, spec.dims)) {
        throw new DeltaMismatchError(
          `tensor ${name} is [${dims.join(', ')}] in the ${side} ${weights.description}, but its config.json ` +
            `implies [${spec.dims.join(', ')}]`,
        );
      }
    }
  }
}
