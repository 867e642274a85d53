import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const directories: string[] = [];

/** Writes `tokenizer.json` (and `tokenizer_config.json` when given) to a new temporary directory. */
export async function writeTokenizerDirectory(tokenizerJson: unknown, tokenizerConfig?: unknown): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'tokenizer-test-'));
  directories.push(directory);
  await writeFile(join(directory, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  if (tokenizerConfig !== undefined) {
    await writeFile(join(directory, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  }
  return directory;
}

/** Removes every directory made by {@link writeTokenizerDirectory}. */
export async function removeTokenizerDirectories(): Promise<void> {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
}

/** A seeded pseudo-random generator (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
