import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../workers/model/manifest.ts';

const run = promisify(execFile);
const cli = resolve(import.meta.dirname, '../../bin/ziya-visual-bot.js');
const temporary = mkdtempSync(join(tmpdir(), 'builder-command-'));
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

describe('ziya-visual-bot build-model', () => {
  it('writes a tiny random model directory and reports progress on stderr', async () => {
    const out = join(temporary, 'tiny-int4');
    const { stderr } = await run(process.execPath, [
      cli,
      'build-model',
      '--random',
      'tiny',
      '--dtype',
      'int4',
      '--seed',
      '3',
      '--out',
      out,
    ]);
    const manifest = readManifest(out);
    expect(manifest.modelId).toMatch(/^random-tiny-s3-int4-[0-9a-f]{16}$/);
    expect(manifest.source).toBe('random:tiny:3');
    expect(manifest.demo).toBe(true);
    expect(manifest.dtype).toBe('int4');
    expect(JSON.parse(readFileSync(join(out, manifest.files.tokenizer), 'utf8')).model.type).toBe('BPE');
    // The totals are known up front: the vision tower's tensors are in the count from the first line.
    expect(stderr).toMatch(/^embed: tensors 0\/100, /);
    expect(stderr).toMatch(/\nembed: tensors 1\/100, /);
    expect(stderr).toMatch(/decoder: tensors 21\/100, [\d.]+ [KMG]?i?B written/);
    expect(stderr).not.toMatch(/tensors \d+\/21\b/);
    expect(stderr).toMatch(/wrote .*tiny-int4 \(random-tiny-s3-int4-[0-9a-f]{16}\)/);
    // Throttled: a tiny build prints a handful of lines, not one per tensor.
    expect(stderr.split('\n').filter((line) => line.includes('tensors')).length).toBeLessThan(15);
  });

  it('refuses an unknown dtype and a missing source with a one-line reason and exit code 1', async () => {
    const badDtype = run(process.execPath, [
      cli,
      'build-model',
      '--random',
      'tiny',
      '--dtype',
      'fp8',
      '--out',
      temporary,
    ]);
    await expect(badDtype).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("argument 'fp8' is invalid. Allowed choices are fp32, fp16, int4"),
    });
    const noSource = run(process.execPath, [cli, 'build-model', '--out', temporary]);
    await expect(noSource).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^build-model: give exactly one weight source/),
    });
  });
});
