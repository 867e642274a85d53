import { z } from 'zod';

/** One file a build read, with the digest it is known by (absent for a local file outside the Hub cache). */
const modelInputFile = z.object({
  path: z.string(),
  bytes: z.number().int().nonnegative(),
  /** `sha256:<hex>` (LFS files) or `git-sha1:<hex>` (regular files), as the Hub lists and the download checked. */
  digest: z.string().optional(),
});

/** One checkpoint a build read: the text weights (or Ziya's delta), the base the delta was applied to, the vision tower. */
export const modelInputSchema = z.object({
  role: z.enum(['text', 'delta-base', 'vision']),
  /** `hf:owner/name` for a Hub snapshot, else the directory. */
  location: z.string(),
  /** The commit of a Hub snapshot, and the branches or tags that pointed at it when it was fetched. */
  commit: z.string().optional(),
  revisions: z.array(z.string()).optional(),
  files: z.array(modelInputFile),
});

/** What `model.json`'s `inputs` records about one checkpoint. */
export type ModelInput = z.infer<typeof modelInputSchema>;
