/** A linear weight quantized for com.microsoft MatMulNBits (bits 4, symmetric: the implied zero point is 8). */
export interface Int4Weight {
  /** Output features (rows of the PyTorch `[out, in]` weight). */
  outFeatures: number;
  /** Input features. */
  inFeatures: number;
  blockSize: number;
  /** `[outFeatures, blocksPerRow, blockSize / 2]`: two 4-bit codes per byte, the earlier element in the low nibble. */
  packed: Uint8Array;
  /** `[outFeatures * blocksPerRow]`: one scale per block. */
  scales: Float32Array;
}

/** Blocks per row of a quantized weight; the last block is zero-padded when `inFeatures` is not a multiple. */
export function blocksPerRow(inFeatures: number, blockSize: number): number {
  return Math.ceil(inFeatures / blockSize);
}

/**
 * Quantizes a PyTorch-layout `[out, in]` weight to signed 4-bit codes per block of `blockSize` inputs, symmetric
 * around zero. As onnxruntime's own quantizer does, the scale maps the block's largest-magnitude value to -8, so
 * that value is exact and the full 16-level range is used; code = clamp(round(w / scale), -8, 7) + 8. Symmetric
 * (no zero-point input) is what the CPU int8-compute path (accuracy_level 4) handles fastest.
 */
export function quantizeInt4(
  weight: Float32Array,
  outFeatures: number,
  inFeatures: number,
  blockSize = 32,
): Int4Weight {
  if (blockSize % 2 !== 0) throw new Error(`block size ${blockSize} must be even`);
  if (weight.length !== outFeatures * inFeatures) {
    throw new Error(`weight has ${weight.length} values, expected ${outFeatures}×${inFeatures}`);
  }
  const blocks = blocksPerRow(inFeatures, blockSize);
  const bytesPerBlock = blockSize / 2;
  const packed = new Uint8Array(outFeatures * blocks * bytesPerBlock);
  const scales = new Float32Array(outFeatures * blocks);
  for (let row = 0; row < outFeatures; row++) {
    const rowStart = row * inFeatures;
    for (let block = 0; block < blocks; block++) {
      const start = block * blockSize;
      const end = Math.min(start + blockSize, inFeatures);
      let extreme = 0;
      for (let column = start; column < end; column++) {
        const value = weight[rowStart + column]!;
        if (Math.abs(value) > Math.abs(extreme)) extreme = value;
      }
      const scale = extreme / -8;
      // Float32 rounding of the stored scale is what the kernel sees, so codes are computed with it.
      const storedScale = Math.fround(scale);
      const inverse = storedScale === 0 ? 0 : 1 / storedScale;
      scales[row * blocks + block] = storedScale;
      const byteBase = (row * blocks + block) * bytesPerBlock;
      for (let offset = 0; offset < blockSize; offset += 2) {
        const low = codeOf(start + offset < end ? weight[rowStart + start + offset]! : 0, inverse);
        const high = codeOf(start + offset + 1 < end ? weight[rowStart + start + offset + 1]! : 0, inverse);
        packed[byteBase + offset / 2] = low | (high << 4);
      }
    }
  }
  return { outFeatures, inFeatures, blockSize, packed, scales };
}

function codeOf(value: number, inverseScale: number): number {
  return Math.min(7, Math.max(-8, Math.round(value * inverseScale))) + 8;
}

/** Reconstructs the float weight a quantized one stands for (tests and error estimates). */
export function dequantizeInt4(weight: Int4Weight): Float32Array {
  const { outFeatures, inFeatures, blockSize } = weight;
  const blocks = blocksPerRow(inFeatures, blockSize);
  const out = new Float32Array(outFeatures * inFeatures);
  for (let row = 0; row < outFeatures; row++) {
    for (let column = 0; column < inFeatures; column++) {
      const block = Math.floor(column / blockSize);
      const within = column % blockSize;
      const byte = weight.packed[(row * blocks + block) * (blockSize / 2) + (within >> 1)]!;
      const code = within % 2 === 0 ? byte & 0x0f : byte >> 4;
      out[row * inFeatures + column] = (code - 8) * weight.scales[row * blocks + block]!;
    }
  }
  return out;
}
