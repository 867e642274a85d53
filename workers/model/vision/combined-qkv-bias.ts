import { type FloatTensor, MissingTensorError, type WeightSource } from '../weights/weight-source.ts';

const separateBias = /^(vision_model\.encoder\.layers\.\d+\.self_attn)\.(q|v)_bias$/;

/**
 * Reads both layouts of the BLIP-2 vision attention bias. The original checkpoints (and Ziya-BLIP2-14B-Visual-v1)
 * hold `self_attn.q_bias` and `self_attn.v_bias`; recent transformers versions save one `self_attn.qkv.bias` of
 * `[q, zeros, v]` instead. This source answers for `q_bias` / `v_bias` from the combined tensor when only that is
 * there, and refuses a combined bias whose key third is not zero: BLIP-2's attention has no key bias, so the graph
 * would silently drop it.
 */
export class CombinedQkvBiasSource implements WeightSource {
  readonly description: string;

  constructor(private readonly inner: WeightSource) {
    this.description = inner.description;
  }

  has(name: string): boolean {
    return this.inner.has(name) || this.combinedName(name) !== undefined;
  }

  get(name: string): FloatTensor {
    const combined = this.combinedName(name);
    if (combined === undefined) return this.inner.get(name);
    const tensor = this.inner.get(combined);
    if (tensor.dims.length !== 1 || tensor.dims[0]! % 3 !== 0) {
      throw new MissingTensorError(
        combined,
        this.description,
        `has shape [${tensor.dims.join(', ')}], not the [3 × hidden] of a combined q, k, v bias`,
      );
    }
    const hidden = tensor.dims[0]! / 3;
    const key = tensor.data.subarray(hidden, 2 * hidden);
    const nonZero = key.findIndex((value) => value !== 0);
    if (nonZero >= 0) {
      throw new MissingTensorError(
        combined,
        this.description,
        `has a non-zero key bias (element ${hidden + nonZero} is ${key[nonZero]}; BLIP-2's attention has none, ` +
          'so the vision graph cannot hold it)',
      );
    }
    const start = name.endsWith('.q_bias') ? 0 : 2 * hidden;
    return { dims: [hidden], data: tensor.data.slice(start, start + hidden) };
  }

  close(): void {
    this.inner.close();
  }

  /** The combined bias that stands in for `name`, when `name` is a separate q/v bias the checkpoint lacks. */
  private combinedName(name: string): string | undefined {
    const match = separateBias.exec(name);
    if (match === null || this.inner.has(name)) return undefined;
    const combined = `${match[1]}.qkv.bias`;
    return this.inner.has(combined) ? combined : undefined;
  }
}
