import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * The builder's version in the model id: raise it whenever the same checkpoints would give different graphs or
 * `model.json` values the vision vectors depend on (preprocessing aside, which is not in the graphs), so embeddings
 * cached under the old id are not served for the new build.
 */
export const builderVersion = 2;

/** The files of a checkpoint directory whose bytes make the model: config, weights (all shards), tokenizer. */
export function checkpointInputFiles(directory: string): string[] {
  const listing = readdirSync(directory).sort();
  const named = (names: readonly string[]) => names.filter((name) => listing.includes(name));
  const safetensors = listing.filter(
    (name) => name.endsWith('.safetensors') || name === 'model.safetensors.index.json',
  );
  const weights =
    safetensors.length > 0
      ? safetensors
      : listing.filter(
          (name) => /^pytorch_model(-\d+-of-\d+)?\.bin$/.test(name) || name === 'pytorch_model.bin.index.json',
        );
  return [...named(['config.json']), ...weights, ...named(['tokenizer.json', 'tokenizer.model'])].map((name) =>
    join(directory, name),
  );
}

/**
 * A content hash over every input of a build. Each part is labelled, so moving bytes from one input to another
 * changes the hash; files are hashed by name and content (not path or time: a copied checkpoint gives the same id).
 */
export class ModelIdHash {
  private readonly hash: Hash = createHash('sha256');

  constructor() {
    this.value('builder', String(builderVersion));
  }

  /** Adds a labelled value (dtype, padding, a random preset and seed). */
  value(label: string, value: string): this {
    this.hash.update(`${label}=${JSON.stringify(value)}\n`);
    return this;
  }

  /**
   * Adds files, each by base name, size and content. A file of a Hugging Face Hub snapshot is a link to a blob named
   * by its content's digest (sha256, or git's sha1 for small files), checked when it was downloaded: the digest
   * stands for the content, so a Hub checkpoint is not read again here.
   */
  files(label: string, paths: readonly string[]): this {
    const buffer = Buffer.allocUnsafe(8 * 1024 * 1024);
    for (const path of paths) {
      if (!existsSync(path)) continue;
      this.hash.update(`${label}:${basename(path)}:${statSync(path).size}\n`);
      const target = lstatSync(path).isSymbolicLink() ? readlinkSync(path) : '';
      const blob = basename(dirname(target)) === 'blobs' ? basename(target) : '';
      if (/^[0-9a-f]{64}$|^[0-9a-f]{40}$/.test(blob)) {
        this.hash.update(`blob:${blob}\n`);
        continue;
      }
      const descriptor = openSync(path, 'r');
      try {
        for (;;) {
          const read = readSync(descriptor, buffer, 0, buffer.length, null);
          if (read === 0) break;
          this.hash.update(buffer.subarray(0, read));
        }
      } finally {
        closeSync(descriptor);
      }
    }
    return this;
  }

  /**
   * The model id: `prefix` (made safe for Redis keys and file names) and the first 16 hex digits of the hash, e.g.
   * `Ziya-LLaMA-13B-v1-fp16-3fa9c2b1d4e07a65`.
   */
  id(prefix: string): string {
    const readable = prefix.replace(/[^A-Za-z0-9._-]+/g, '-');
    return `${readable}-${this.hash.digest('hex').slice(0, 16)}`;
  }
}
