import { z } from 'zod';

/** A normalized image kept in the image store under `img:<sha256>`. */
export const imageRefSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  mediaType: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Size in bytes of the stored image. */
  bytes: z.number().int().positive(),
});
/** A normalized image kept in the image store. */
export type ImageRef = z.infer<typeof imageRefSchema>;
