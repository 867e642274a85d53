/** What the image normalizer accepts and produces. */
export interface ImageLimits {
  /**
   * Largest accepted file, in bytes.
   * @defaultValue 20 MiB
   */
  maxBytes: number;
  /**
   * Largest accepted width × height (of the first frame), checked from the header before any pixel is decoded.
   * @defaultValue 40 000 000
   */
  maxPixels: number;
  /**
   * The longest side of the normalized image, in pixels. The model looks at 224 × 224; 1024 keeps enough detail for
   * a higher-resolution model later and for showing the picture back, while the JPEG stays around 100–300 KB.
   * @defaultValue 1024
   */
  maxSide: number;
  /**
   * How long decoding and re-encoding may take before the image counts as unreadable.
   * @defaultValue 15
   */
  timeoutSeconds: number;
}

/** Default image limits. */
export const defaultImageLimits = {
  maxBytes: 20 * 1024 * 1024,
  maxPixels: 40_000_000,
  maxSide: 1024,
  timeoutSeconds: 15,
} as const satisfies ImageLimits;
