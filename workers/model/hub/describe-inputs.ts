import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { ModelInput } from '../model-inputs.ts';

/** Files of a checkpoint directory that a build reads. */
const readByBuild = (file: string) =>
  file.endsWith('.json') ||
  file.endsWith('.safetensors') ||
  /^pytorch_model.*\.bin$/.test(file) ||
  file === 'tokenizer.model';

/**
 * Describes the checkpoint in `directory` for `model.json`: its files and sizes, and when it is a snapshot of the
 * Hub cache (`…/models--owner--name/snapshots/<commit>`), the repository, the commit, the refs that point at it and
 * each file's digest, read from the blob its symlink points at (a blob is named by the sha256 or git id that the
 * download checked). A file outside the cache is hashed here (sha256, one sequential read; about a minute per
 * 25 GB on a disk that reads 500 MB/s).
 */
export function describeCheckpoint(role: ModelInput['role'], directory: string): ModelInput {
  const absolute = resolve(directory);
  const snapshot = /^models--(.+?)--(.+)$/.exec(basename(dirname(dirname(absolute))));
  const inSnapshots = basename(dirname(absolute)) === 'snapshots' && snapshot !== null;
  const commit = basename(absolute);
  const files = readdirSync(absolute)
    .filter(readByBuild)
    .sort()
    .map((file) => {
      const path = join(absolute, file);
      const blob = lstatSync(path).isSymbolicLink() ? basename(readlinkSync(path)) : undefined;
      const digest =
        blob === undefined
          ? undefined
          : /^[0-9a-f]{64}$/.test(blob)
            ? `sha256:${blob}`
            : /^[0-9a-f]{40}$/.test(blob)
              ? `git-sha1:${blob}`
              : undefined;
      return { path: file, bytes: statSync(path).size, digest: digest ?? `sha256:${sha256OfFile(path)}` };
    });
  if (!inSnapshots || snapshot === null) return { role, location: absolute, files };
  const repoRoot = dirname(dirname(absolute));
  return {
    role,
    location: `hf:${snapshot[1]}/${snapshot[2]}`,
    commit,
    revisions: refsPointingAt(join(repoRoot, 'refs'), commit),
    files,
  };
}

/**
 * How a checkpoint directory is named in `model.json`'s `source` and the model id: `hf:owner/name@<commit>` and
 * `name` for a Hub cache snapshot (whose own directory name is just the commit), else the directory's name twice.
 */
export function checkpointName(directory: string): { source: string; name: string } {
  const absolute = resolve(directory);
  const snapshot = /^models--(.+?)--(.+)$/.exec(basename(dirname(dirname(absolute))));
  if (basename(dirname(absolute)) === 'snapshots' && snapshot !== null) {
    return { source: `hf:${snapshot[1]}/${snapshot[2]}@${basename(absolute)}`, name: snapshot[2]! };
  }
  return { source: basename(absolute), name: basename(absolute) };
}

/** The names under `refs/` whose content is `commit` (`main`, `refs/pr/1`, a tag). */
function refsPointingAt(refsDirectory: string, commit: string): string[] {
  if (!existsSync(refsDirectory)) return [];
  const found: string[] = [];
  const walk = (directory: string) => {
    for (const entry of readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (readFileSync(path, 'utf8').trim() === commit) found.push(relative(refsDirectory, path));
    }
  };
  walk(refsDirectory);
  return found.sort();
}

function sha256OfFile(path: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(8 * 1024 * 1024);
  const descriptor = openSync(path, 'r');
  try {
    for (;;) {
      const read = readSync(descriptor, buffer, 0, buffer.length, null);
      if (read === 0) break;
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(descriptor);
  }
  return hash.digest('hex');
}
