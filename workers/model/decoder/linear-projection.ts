import type { ModelDtype } from '../config.ts';
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import { toFloat16 } from '../quantize/float16.ts';
import { quantizeInt4 } from '../quantize/int4-block-quantizer.ts';
import type { FloatTensor } from '../weights/weight-source.ts';

/** Block size of the int4 weights (MatMulNBits `block_size`). */
export const int4BlockSize = 32;

/**
 * MatMulNBits `accuracy_level` 4: on CPU the activations are quantized to int8 per block and the dot products run
 * in int8, the fast path for decode; the error it adds is small next to the 4-bit weights' own.
 */
export const int4AccuracyLevel = 4;

/** Stacks PyTorch `[out, in]` weights that share an input into one `[Σout, in]` weight (fused projections). */
export function stackRows(parts: readonly FloatTensor[]): FloatTensor {
  const inFeatures = parts[0]!.dims[1]!;
  let outFeatures = 0;
  for (const part of parts) {
    if (part.dims[1] !== inFeatures) throw new Error(`cannot stack [${part.dims}] under in-features ${inFeatures}`);
    outFeatures += part.dims[0]!;
  }
  if (parts.length === 1) return parts[0]!;
  const data = new Float32Array(outFeatures * inFeatures);
  let offset = 0;
  for (const part of parts) {
    data.set(part.data, offset);
    offset += part.data.length;
  }
  return { dims: [outFeatures, inFeatures], data };
}

/** `[rows, columns]` → `[columns, rows]`, in 64×64 tiles: a naive loop misses the cache on every write at 13B size. */
function transpose(weight: FloatTensor): Float32Array {
  const [rows, columns] = weight.dims as [number, number];
  const source = weight.data;
  const out = new Float32Array(rows * columns);
  const tile = 64;
  for (let rowStart = 0; rowStart < rows; rowStart += tile) {
    const rowEnd = Math.min(rowStart + tile, rows);
    for (let columnStart = 0; columnStart < columns; columnStart += tile) {
      const columnEnd = Math.min(columnStart + tile, columns);
      for (let row = rowStart; row < rowEnd; row++) {
        const rowOffset = row * columns;
        for (let column = columnStart; column < columnEnd; column++)
          out[column * rows + row] = source[rowOffset + column]!;
      }
    }
  }
  return out;
}

/**
 * Adds the weight of a bias-free linear layer and returns a function applying it: a MatMul on a transposed
 * `[in, out]` initializer for fp32/fp16, or MatMulNBits on the `[out, blocks, 16]` 4-bit codes for int4 (float32
 * activations and scales) and int4-fp16 (float16 activations and scales: the MatMulNBits that CUDA runs next to its
 * fp16-only GroupQueryAttention; the CPU widens to float32 inside the kernel).
 */
export function addLinear(
  graph: GraphBuilder,
  name: string,
  weight: FloatTensor,
  dtype: ModelDtype,
): (input: string, outputName?: string) => string {
  const [outFeatures, inFeatures] = weight.dims as [number, number];
  if (dtype === 'int4' || dtype === 'int4-fp16') {
    const quantized = quantizeInt4(weight.data, outFeatures, inFeatures, int4BlockSize);
    const blocks = quantized.scales.length / outFeatures;
    const packedName = graph.initializer(
      `${name}.int4`,
      'uint8',
      [outFeatures, blocks, int4BlockSize / 2],
      quantized.packed,
    );
    const scalesName =
      dtype === 'int4-fp16'
        ? graph.initializer(`${name}.scales`, 'float16', [outFeatures * blocks], toFloat16(quantized.scales))
        : graph.initializer(`${name}.scales`, 'float32', [outFeatures * blocks], quantized.scales);
    return (input, outputName) =>
      graph.op(
        'MatMulNBits',
        [input, packedName, scalesName],
        { K: inFeatures, N: outFeatures, bits: 4, block_size: int4BlockSize, accuracy_level: int4AccuracyLevel },
        { domain: 'com.microsoft', name, ...(outputName ? { output: outputName } : {}) },
      );
  }
  const transposed = transpose(weight);
  const weightName =
    dtype === 'fp16'
      ? graph.initializer(name, 'float16', [inFeatures, outFeatures], toFloat16(transposed))
      : graph.initializer(name, 'float32', [inFeatures, outFeatures], transposed);
  return (input, outputName) =>
    graph.op('MatMul', [input, weightName], undefined, { name, ...(outputName ? { output: outputName } : {}) });
}
