// Node 20 has no Float16Array: half and bfloat16 values are converted bit by bit.

const scratchFloat = new Float32Array(1);
const scratchBits = new Uint32Array(scratchFloat.buffer);

/** Rounds one float32 to IEEE half precision (round to nearest even), returning its 16 bits. */
export function float32ToFloat16Bits(value: number): number {
  scratchFloat[0] = value;
  const bits = scratchBits[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding to nearest even.
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const halfMantissa = full >>> shift;
    const remainder = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const roundUp = remainder > halfway || (remainder === halfway && (halfMantissa & 1) === 1);
    return sign | (halfMantissa + (roundUp ? 1 : 0));
  }
  const halfMantissa = mantissa >>> 13;
  const remainder = mantissa & 0x1fff;
  const roundUp = remainder > 0x1000 || (remainder === 0x1000 && (halfMantissa & 1) === 1);
  // A carry out of the mantissa correctly bumps the exponent (and overflows to infinity at the top).
  return sign | ((halfExponent << 10) + halfMantissa + (roundUp ? 1 : 0));
}

/** Widens IEEE half-precision bits to a float32 value. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Converts a float32 array to half-precision bits: the scalar rounding inlined over the raw bits (≈10× faster). */
export function toFloat16(values: Float32Array): Uint16Array {
  const input = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let index = 0; index < input.length; index++) {
    const bits = input[index]!;
    const sign = (bits >>> 16) & 0x8000;
    const exponent = (bits >>> 23) & 0xff;
    const halfExponent = exponent - 112;
    if (halfExponent > 0 && halfExponent < 0x1f) {
      const mantissa = bits & 0x7fffff;
      const remainder = mantissa & 0x1fff;
      const halfMantissa = mantissa >>> 13;
      const roundUp = remainder > 0x1000 || (remainder === 0x1000 && (halfMantissa & 1) === 1) ? 1 : 0;
      out[index] = sign | ((halfExponent << 10) + halfMantissa + roundUp);
    } else {
      // Zero, subnormal, overflow, infinity and NaN are rare: the scalar path handles them.
      out[index] = float32ToFloat16Bits(values[index]!);
    }
  }
  return out;
}

/** Widens half-precision bits to float32. */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let index = 0; index < bits.length; index++) out[index] = float16BitsToFloat32(bits[index]!);
  return out;
}

/** Widens bfloat16 bits (the top half of a float32) to float32. */
export function fromBfloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let index = 0; index < bits.length; index++) outBits[index] = bits[index]! << 16;
  return out;
}

/** Rounds float32 values to bfloat16 bits (round to nearest even); used to write test checkpoints. */
export function toBfloat16(values: Float32Array): Uint16Array {
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let index = 0; index < values.length; index++) {
    const bits = inBits[index]!;
    out[index] = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
  }
  return out;
}
