import { float16BitsToFloat32, float32ToFloat16Bits } from '../quantize/float16.ts';

/** Values per Q4_0 block. */
export const q4_0BlockLength = 32;

/** Bytes per Q4_0 block: an fp16 scale and 16 bytes of 4-bit codes. */
export const q4_0BlockBytes = 18;

/**
 * Quantizes rows to GGML's Q4_0, exactly as ggml's `quantize_row_q4_0_ref`: per block of 32 the scale is the
 * largest-magnitude value (with its sign) divided by -8, stored as fp16; code = min(15, trunc(x/d + 8.5)); byte j
 * holds code j in its low nibble and code j+16 in its high nibble. The codes use the float32 scale, as ggml does.
 */
export function quantizeQ4_0(values: Float32Array): Uint8Array {
  if (values.length % q4_0BlockLength !== 0) {
    throw new Error(`q4_0 needs a multiple of ${q4_0BlockLength} values, got ${values.length}`);
  }
  const blocks = values.length / q4_0BlockLength;
  const out = new Uint8Array(blocks * q4_0BlockBytes);
  const half = q4_0BlockLength / 2;
  for (let block = 0; block < blocks; block++) {
    const start = block * q4_0BlockLength;
    let largestMagnitude = 0;
    let extreme = 0;
    for (let index = start; index < start + q4_0BlockLength; index++) {
      const value = values[index]!;
      if (largestMagnitude < Math.abs(value)) {
        largestMagnitude = Math.abs(value);
        extreme = value;
      }
    }
    const scale = Math.fround(extreme / -8);
    const inverse = scale === 0 ? 0 : Math.fround(1 / scale);
    const bits = float32ToFloat16Bits(scale);
    const base = block * q4_0BlockBytes;
    out[base] = bits & 0xff;
    out[base + 1] = bits >>> 8;
    for (let index = 0; index < half; index++) {
      const low = Math.min(15, Math.trunc(Math.fround(Math.fround(values[start + index]! * inverse) + 8.5)));
      const high = Math.min(15, Math.trunc(Math.fround(Math.fround(values[start + half + index]! * inverse) + 8.5)));
      out[base + 2 + index] = low | (high << 4);
    }
  }
  return out;
}

/** Expands Q4_0 blocks back to float32 (`dequantize_row_q4_0`): x = (code - 8) · d. */
export function dequantizeQ4_0(bytes: Uint8Array): Float32Array {
  const blocks = bytes.length / q4_0BlockBytes;
  const out = new Float32Array(blocks * q4_0BlockLength);
  const half = q4_0BlockLength / 2;
  for (let block = 0; block < blocks; block++) {
    const base = block * q4_0BlockBytes;
    const scale = float16BitsToFloat32(bytes[base]! | (bytes[base + 1]! << 8));
    for (let index = 0; index < half; index++) {
      const byte = bytes[base + 2 + index]!;
      out[block * q4_0BlockLength + index] = ((byte & 0x0f) - 8) * scale;
      out[block * q4_0BlockLength + half + index] = ((byte >>> 4) - 8) * scale;
    }
  }
  return out;
}
