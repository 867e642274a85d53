import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoModelDirectory, ensureRandomModel, modelCacheRoot } from '../../workers/chat/model-directory-cache.ts';
import { readManifest } from '../../workers/model/manifest.ts';

describe('model directory cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'zvb-model-cache-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('puts the demo model under $XDG_CACHE_HOME when set, else in the project .cache', () => {
    expect(demoModelDirectory({ XDG_CACHE_HOME: '/var/cache/me' })).toBe(
      '/var/cache/me/ziya-visual-bot/models/tiny-demo',
    );
    expect(demoModelDirectory({})).toBe(join(modelCacheRoot({}), 'models', 'tiny-demo'));
    expect(modelCacheRoot({})).toMatch(/[/\\]\.cache$/);
  });

  it('builds a missing model once, in place by rename, and reuses a finished one', async () => {
    const directory = join(root, 'models', 'tiny-demo');
    expect(await ensureRandomModel({ directory, preset: 'tiny', dtype: 'fp32' })).toBe(true);
    const manifest = readManifest(directory);
    expect(manifest.demo).toBe(true);
    expect(manifest.files.vision).toBeDefined();
    expect(readdirSync(join(root, 'models'))).toEqual(['tiny-demo']);
    expect(await ensureRandomModel({ directory, preset: 'tiny', dtype: 'fp32' })).toBe(false);
    // A build that lacks what the caller needs is replaced.
    expect(await ensureRandomModel({ directory, preset: 'tiny', dtype: 'fp32', requirement: () => false })).toBe(true);
    expect(existsSync(join(directory, 'model.json'))).toBe(true);
    expect(readdirSync(join(root, 'models'))).toEqual(['tiny-demo']);
  });
});
