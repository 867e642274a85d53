/**
 * The cos/sin tables GroupQueryAttention rotates with: `[maxPositions, headSize / 2]`, entry (p, i) is the angle
 * p · θ^(-2i / headSize), the same frequencies Hugging Face LLaMA uses with its rotate-half layout.
 */
export function rotaryCache(
  maxPositions: number,
  headSize: number,
  theta: number,
): { cos: Float32Array; sin: Float32Array } {
  const half = headSize / 2;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let index = 0; index < half; index++) {
    // Computed in float32 first, as HF does (`inv_freq` is a float32 tensor), so angles match the reference closely.
    const inverseFrequency = Math.fround(1 / theta ** ((2 * index) / headSize));
    for (let position = 0; position < maxPositions; position++) {
      const angle = Math.fround(position * inverseFrequency);
      cos[position * half + index] = Math.cos(angle);
      sin[position * half + index] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
