import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { downloadSnapshot } from '../../../workers/model/hub/hub-download.ts';
import { hubEnvironment } from '../../../workers/model/hub/hub-environment.ts';
import { HubError } from '../../../workers/model/hub/hub-error.ts';
import { parseHubReference } from '../../../workers/model/hub/hub-reference.ts';
import { type FakeHub, sha256Hex, startFakeHub } from './fake-hub.ts';

/** The disk fills up after `room` bytes of blob writes (statfs still says there is space, as with a quota). */
const disk = vi.hoisted(() => ({ room: Number.POSITIVE_INFINITY }));
vi.mock('node:fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs')>();
  return {
    ...original,
    writeSync: (...parameters: Parameters<typeof original.writeSync>) => {
      const length = (parameters[3] as number | undefined) ?? 0;
      if (length > disk.room) {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      disk.room -= length;
      return (original.writeSync as (...values: unknown[]) => number)(...parameters);
    },
  };
});

const weights = randomBytes(2 * 1024 * 1024);
let hub: FakeHub;
let cacheDirectory: string;

beforeEach(async () => {
  hub = await startFakeHub([
    {
      repo: 'IDEA-CCNL/Ziya-LLaMA-13B-v1',
      commit: '3333333333333333333333333333333333333333',
      files: [
        { path: 'config.json', content: Buffer.from('{}'), lfs: false },
        { path: 'model.safetensors', content: weights, lfs: true },
      ],
    },
  ]);
  cacheDirectory = fs.mkdtempSync(join(tmpdir(), 'hub-disk-full-'));
});
afterEach(async () => {
  disk.room = Number.POSITIVE_INFINITY;
  await hub.close();
  fs.rmSync(cacheDirectory, { recursive: true, force: true });
});

it('a disk that fills up mid-file is one line naming HF_HUB_CACHE, and the next run resumes the bytes written', async () => {
  const options = {
    reference: parseHubReference('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'),
    environment: hubEnvironment({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDirectory, HF_HOME: cacheDirectory }),
    retryDelayMs: 1,
  };
  disk.room = 1024 * 1024;
  const error = await downloadSnapshot(options).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(HubError);
  expect((error as Error).message).toMatch(
    /^the disk of .*models--IDEA-CCNL--Ziya-LLaMA-13B-v1 is full: free some space or point HF_HUB_CACHE at a larger disk, then run again to resume$/,
  );
  disk.room = Number.POSITIVE_INFINITY;
  const snapshot = await downloadSnapshot(options);
  expect(fs.readFileSync(join(snapshot.directory, 'model.safetensors')).equals(weights)).toBe(true);
  const ranges = hub.log.cdnRanges.filter((entry) => entry.sha256 === sha256Hex(weights)).map((entry) => entry.range);
  expect(ranges).toHaveLength(2);
  expect(ranges[1]).toMatch(/^bytes=[1-9]\d*-$/);
});
