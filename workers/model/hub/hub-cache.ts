import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

/**
 * One model repository in the cache layout the Python tools share (`huggingface_hub`):
 * `models--owner--name/blobs/<sha256 or git sha1>`, `refs/<revision>` holding the commit with no newline, and
 * `snapshots/<commit>/<path>` as relative symlinks into `blobs/`. Files a user already fetched with Python are
 * found and reused, and ours are theirs.
 */
export class HubRepoCache {
  /** `<cache>/models--owner--name`. */
  readonly root: string;

  constructor(cacheDirectory: string, repo: string) {
    this.root = join(cacheDirectory, `models--${repo.split('/').join('--')}`);
  }

  /** Where a finished blob lives. */
  blobPath(blobName: string): string {
    return join(this.root, 'blobs', blobName);
  }

  /** Where a blob being downloaded lives (the name huggingface_hub uses, so either tool resumes the other's). */
  incompletePath(blobName: string): string {
    return `${this.blobPath(blobName)}.incomplete`;
  }

  /** The snapshot directory of a commit. */
  snapshotDirectory(commit: string): string {
    return join(this.root, 'snapshots', commit);
  }

  /** The commit a branch or tag pointed at when last resolved, if recorded. */
  readRef(revision: string): string | undefined {
    const path = join(this.root, 'refs', revision);
    return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
  }

  /** Records the commit of a branch or tag (not for a revision that is itself a commit). */
  writeRef(revision: string, commit: string): void {
    if (revision === commit) return;
    const path = join(this.root, 'refs', revision);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, commit);
  }

  /** Points `snapshots/<commit>/<path>` at a blob with a relative symlink, replacing whatever was there. */
  link(commit: string, path: string, blobName: string): void {
    const linkPath = join(this.snapshotDirectory(commit), path);
    const target = relative(dirname(linkPath), this.blobPath(blobName));
    mkdirSync(dirname(linkPath), { recursive: true });
    if (lstatOrUndefined(linkPath)?.isSymbolicLink() && readlinkSync(linkPath) === target) return;
    rmSync(linkPath, { force: true });
    symlinkSync(target, linkPath);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
