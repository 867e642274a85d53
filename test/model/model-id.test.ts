import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointInputFiles, ModelIdHash } from '../../workers/model/model-id.ts';

let temporary: string;
beforeAll(() => {
  temporary = mkdtempSync(join(tmpdir(), 'model-id-'));
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

function checkpoint(name: string, weights: string): string {
  const directory = join(temporary, name);
  mkdirSync(directory);
  writeFileSync(join(directory, 'config.json'), '{"hidden_size": 64}');
  writeFileSync(join(directory, 'model.safetensors'), weights);
  writeFileSync(join(directory, 'tokenizer.json'), '{}');
  writeFileSync(join(directory, 'README.md'), `not an input of ${name}`);
  return directory;
}

const idOf = (directory: string) => new ModelIdHash().files('text', checkpointInputFiles(directory)).id('Tiny fp32');

describe('model id', () => {
  it('hashes the inputs by name and content, not by path or unrelated files, behind a readable prefix', () => {
    const first = idOf(checkpoint('a', 'weights one'));
    expect(first).toMatch(/^Tiny-fp32-[0-9a-f]{16}$/);
    expect(idOf(checkpoint('copy-of-a', 'weights one'))).toBe(first);
    expect(idOf(checkpoint('b', 'weights two'))).not.toBe(first);
    expect(new ModelIdHash().value('dtype', 'fp16').id('x')).not.toBe(new ModelIdHash().value('dtype', 'fp32').id('x'));
  });

  it('takes a Hub snapshot file by the digest its blob is named after, without reading it', () => {
    const blobs = join(temporary, 'models--o--n', 'blobs');
    const snapshot = join(temporary, 'models--o--n', 'snapshots', 'abc');
    mkdirSync(blobs, { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    const digest = 'e'.repeat(64);
    writeFileSync(join(blobs, digest), 'weights one');
    symlinkSync(join('..', '..', 'blobs', digest), join(snapshot, 'model.safetensors'));
    const before = idOf(snapshot);
    // The same name and size, other bytes: the digest in the name is what counts for a Hub blob.
    writeFileSync(join(blobs, digest), 'weights 1!!');
    expect(idOf(snapshot)).toBe(before);
    const other = 'f'.repeat(64);
    writeFileSync(join(blobs, other), 'weights one');
    rmSync(join(snapshot, 'model.safetensors'));
    symlinkSync(join('..', '..', 'blobs', other), join(snapshot, 'model.safetensors'));
    expect(idOf(snapshot)).not.toBe(before);
  });
});
