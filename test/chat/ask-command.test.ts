import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { askCli } from '../support/ask-cli.ts';
import { tinyVisualModelDirectory } from './tiny-visual-model.ts';

describe('ziya-visual-bot ask', () => {
  let model: string;
  let folder: string;

  beforeAll(async () => {
    model = tinyVisualModelDirectory();
    folder = mkdtempSync(join(tmpdir(), 'zvb-ask-'));
    await sharp({ create: { width: 50, height: 40, channels: 3, background: '#c08020' } })
      .jpeg()
      .toFile(join(folder, 'photo.jpg'));
    writeFileSync(join(folder, 'notes.png'), 'shopping list: milk, eggs\n');
  });

  it('streams an answer about an image to stdout, progress and the demo banner to stderr', async () => {
    const args = ['--image', join(folder, 'photo.jpg'), '--model', model, '--max-tokens', '8', '--greedy'];
    const result = await askCli([...args, 'What', 'is', 'this?']);
    expect(result.stderr).toContain('loading model');
    expect(result.stderr).toMatch(/Demo mode: this model has random weights/);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().length).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/\[(length|stop); \d+ prompt \+ \d+ generated tokens/);
  });

  it('says in one line what is wrong with a bad image or model directory, exit code 1, no stack trace', async () => {
    const [badImage, missingImage, badModel] = await Promise.all([
      askCli(['--image', join(folder, 'notes.png'), '--model', model, 'What is this?']),
      askCli(['--image', join(folder, 'absent.jpg'), '--model', model, 'What is this?']),
      askCli(['--image', join(folder, 'photo.jpg'), '--model', folder, 'What is this?']),
    ]);
    expect(badImage.code).toBe(1);
    expect(badImage.stderr).toMatch(/^error: .*image_unreadable/m);
    expect(badImage.stderr).not.toMatch(/\n\s+at /);
    expect(missingImage.code).toBe(1);
    expect(missingImage.stderr).toMatch(/^error: cannot read image .*absent\.jpg/m);
    expect(badModel.code).toBe(1);
    expect(badModel.stderr).toMatch(/^error: model directory .*model\.json: not found/m);
    expect(badModel.stderr).not.toMatch(/\n\s+at /);
  });
});
