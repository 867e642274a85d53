import { z } from 'zod';
import { HubError } from './hub-error.ts';
import { type HubHttpOptions, hubGet, hubResponseError, hubUrl } from './hub-http.ts';

/** One file of a repository at a commit, from the tree listing. */
export interface HubFile {
  path: string;
  size: number;
  /** The git blob id (sha1) of the file, or of its LFS pointer when `sha256` is set. */
  gitOid: string;
  /** The sha256 of an LFS file's content, which is also its blob name in the cache. */
  sha256: string | undefined;
}

const revisionInfoSchema = z.object({ sha: z.string().regex(/^[0-9a-f]{40}$/) });

const treeEntrySchema = z.object({
  type: z.string(),
  path: z.string(),
  oid: z.string(),
  size: z.number().int().nonnegative(),
  lfs: z.object({ oid: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).optional(),
});

/** The commit a branch, tag or commit id resolves to (`/api/models/<repo>/revision/<revision>`). */
export async function resolveCommit(repo: string, revision: string, http: HubHttpOptions): Promise<string> {
  const url = hubUrl(http.endpoint, ['api', 'models', ...repo.split('/'), 'revision', revision]);
  const { response } = await hubGet(url, http);
  if (!response.ok) throw await hubResponseError(response, { repo, revision }, http.token !== undefined);
  const parsed = revisionInfoSchema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw new HubError(`hf:${repo}@${revision}: the Hub's revision info has no commit sha`);
  return parsed.data.sha;
}

/** Every file of the repository at a commit, following the listing's `Link: rel="next"` pages. */
export async function listFiles(repo: string, commit: string, http: HubHttpOptions): Promise<HubFile[]> {
  const files: HubFile[] = [];
  let url: string | undefined = hubUrl(
    http.endpoint,
    ['api', 'models', ...repo.split('/'), 'tree', commit],
    '?recursive=true&expand=false',
  );
  while (url !== undefined) {
    const { response } = await hubGet(url, http);
    if (!response.ok) throw await hubResponseError(response, { repo, revision: commit }, http.token !== undefined);
    const parsed = z.array(treeEntrySchema).safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new HubError(`hf:${repo}@${commit}: the Hub's file listing is not what it should be`);
    for (const entry of parsed.data) {
      if (entry.type !== 'file') continue;
      files.push({
        path: entry.path,
        size: entry.lfs?.size ?? entry.size,
        gitOid: entry.oid,
        sha256: entry.lfs?.oid,
      });
    }
    url = nextPage(response.headers.get('link'), url);
  }
  return files;
}

/** The `rel="next"` target of a `Link` header, resolved against the page it came with. */
function nextPage(link: string | null, current: string): string | undefined {
  if (link === null) return undefined;
  for (const part of link.split(',')) {
    const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (match?.[1] !== undefined) return new URL(match[1], current).toString();
  }
  return undefined;
}

/** Configuration, tokenizer and index files that a build reads, at the repository's top level. */
const metadataFiles = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer.model',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
]);

/**
 * The files a build needs: the metadata above and one family of weights, safetensors when the repository has
 * them (with their index), else `pytorch_model*.bin` (with its index). READMEs, example images, Python code and
 * other formats (`.h5`, `.msgpack`, GGUF) are left on the Hub.
 */
export function selectBuildFiles(files: readonly HubFile[]): HubFile[] {
  const topLevel = files.filter((file) => !file.path.includes('/'));
  const safetensors = topLevel.some((file) => file.path.endsWith('.safetensors'));
  return topLevel.filter((file) => {
    if (metadataFiles.has(file.path)) return true;
    if (safetensors) return file.path.endsWith('.safetensors') || file.path === 'model.safetensors.index.json';
    return /^pytorch_model.*\.bin$/.test(file.path) || file.path === 'pytorch_model.bin.index.json';
  });
}
