import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubRepoCache } from '../../../workers/model/hub/hub-cache.ts';
import { downloadSnapshot, type HubDownloadOptions } from '../../../workers/model/hub/hub-download.ts';
import { hubEnvironment } from '../../../workers/model/hub/hub-environment.ts';
import { HubError } from '../../../workers/model/hub/hub-error.ts';
import { parseHubReference } from '../../../workers/model/hub/hub-reference.ts';
import { type FakeHub, type FakeHubRepo, gitBlobId, sha256Hex, startFakeHub } from './fake-hub.ts';

const commit = '0123456789abcdef0123456789abcdef01234567';
const config = Buffer.from(JSON.stringify({ model_type: 'llama', hidden_size: 8 }));
const shard1 = randomBytes(3 * 1024 * 1024 + 17);
const shard2 = randomBytes(1024 * 1024);
const tokenizerModel = randomBytes(4096);

const ziya: FakeHubRepo = {
  repo: 'IDEA-CCNL/Ziya-LLaMA-13B-v1',
  commit,
  revisions: ['main', 'refs/pr/1'],
  files: [
    { path: 'config.json', content: config, lfs: false },
    { path: 'tokenizer.model', content: tokenizerModel, lfs: true },
    { path: 'model-00001-of-00002.safetensors', content: shard1, lfs: true },
    { path: 'model-00002-of-00002.safetensors', content: shard2, lfs: true },
    { path: 'README.md', content: Buffer.from('# Ziya'), lfs: false },
    { path: 'pytorch_model.bin', content: randomBytes(1000), lfs: true },
  ],
};
const gated: FakeHubRepo = {
  repo: 'huggyllama/llama-13b',
  commit: 'b'.repeat(40),
  gated: true,
  files: [
    { path: 'config.json', content: config, lfs: false },
    { path: 'model.safetensors', content: shard2, lfs: true },
  ],
};

let hub: FakeHub;
let cacheDirectory: string;

beforeEach(async () => {
  hub = await startFakeHub([ziya, gated], { pageSize: 2, acceptedToken: 'hf_good' });
  cacheDirectory = mkdtempSync(join(tmpdir(), 'hub-cache-'));
});
afterEach(async () => {
  await hub.close();
  rmSync(cacheDirectory, { recursive: true, force: true });
});

function options(reference: string, token?: string, extra: Partial<HubDownloadOptions> = {}): HubDownloadOptions {
  return {
    reference: parseHubReference(reference),
    // The real environment reading: HF_ENDPOINT, HF_TOKEN and HF_HUB_CACHE, as a user sets them.
    environment: hubEnvironment({
      HF_ENDPOINT: `${hub.endpoint}/`,
      HF_HUB_CACHE: cacheDirectory,
      HF_HOME: join(cacheDirectory, 'no-home'),
      ...(token !== undefined ? { HF_TOKEN: token } : {}),
    }),
    retryDelayMs: 1,
    ...extra,
  };
}

const resolveRequests = () => hub.log.hubRequests.filter((line) => line.includes('/resolve/')).length;
const cdnTotal = () => [...hub.log.cdnBytes.values()].reduce((sum, bytes) => sum + bytes, 0);

describe('downloadSnapshot against a fake Hub', () => {
  it('resumes a dropped connection without fetching a byte twice, in the Python cache layout; a second run fetches nothing', async () => {
    const sha1 = sha256Hex(shard1);
    hub.dropOnce(sha1, 1_234_567);
    const snapshot = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', 'hf_any'));

    expect(snapshot.commit).toBe(commit);
    expect(readFileSync(join(snapshot.directory, 'model-00001-of-00002.safetensors')).equals(shard1)).toBe(true);
    expect(readFileSync(join(snapshot.directory, 'model-00002-of-00002.safetensors')).equals(shard2)).toBe(true);
    // config.json came gzipped without a Content-Length, and was stored and checked as its plain bytes.
    expect(hub.log.gzipped).toEqual(['config.json']);
    expect(readFileSync(join(snapshot.directory, 'config.json')).equals(config)).toBe(true);
    // Only what a build reads: no README, and no .bin next to safetensors.
    expect(snapshot.files.map((file) => file.path).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'tokenizer.model',
    ]);
    // The interrupted file: 1,234,567 bytes, then a Range request for the rest; the CDN sent each byte once.
    expect(hub.log.cdnRanges.filter((entry) => entry.sha256 === sha1).map((entry) => entry.range)).toEqual([
      '',
      'bytes=1234567-',
    ]);
    expect(hub.log.cdnBytes.get(sha1)).toBe(shard1.byteLength);
    expect(snapshot.bytesFetched).toBe(
      shard1.byteLength + shard2.byteLength + tokenizerModel.byteLength + config.length,
    );

    // The token went to the Hub host and never to the CDN host the LFS redirects point at.
    expect(hub.log.hubAuthorization.every((header) => header === 'Bearer hf_any')).toBe(true);
    expect(hub.log.cdnAuthorization.length).toBeGreaterThan(0);
    expect(hub.log.cdnAuthorization.every((header) => header === '')).toBe(true);
    // The listing came in pages (7 entries, 2 per page).
    expect(hub.log.hubRequests.filter((line) => line.includes('/tree/')).length).toBe(4);

    // huggingface_hub's layout: refs/main is the commit without a newline, snapshot entries are relative symlinks
    // into blobs/ named by sha256 (LFS) or git blob id (regular files).
    const root = join(cacheDirectory, 'models--IDEA-CCNL--Ziya-LLaMA-13B-v1');
    expect(readFileSync(join(root, 'refs', 'main'), 'utf8')).toBe(commit);
    const shardLink = join(root, 'snapshots', commit, 'model-00001-of-00002.safetensors');
    expect(lstatSync(shardLink).isSymbolicLink()).toBe(true);
    expect(readlinkSync(shardLink)).toBe(`../../blobs/${sha1}`);
    expect(readlinkSync(join(root, 'snapshots', commit, 'config.json'))).toBe(`../../blobs/${gitBlobId(config)}`);
    expect(existsSync(join(root, 'blobs', `${sha1}.incomplete`))).toBe(false);

    const before = { resolves: resolveRequests(), cdn: cdnTotal() };
    const phases = new Set<string>();
    const again = await downloadSnapshot(
      options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', 'hf_any', { onProgress: (event) => phases.add(event.phase) }),
    );
    // Cached files are re-hashed, and reported as checks, not downloads.
    expect([...phases]).toEqual(['check']);
    expect(again.directory).toBe(snapshot.directory);
    expect(again.bytesFetched).toBe(0);
    expect(resolveRequests()).toBe(before.resolves);
    expect(cdnTotal()).toBe(before.cdn);
  });

  it('resumes the .incomplete blob an earlier process left, with one Range request for the rest', async () => {
    const sha1 = sha256Hex(shard1);
    const cache = new HubRepoCache(cacheDirectory, ziya.repo);
    await downloadSnapshot(
      options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', undefined, {
        select: (files) => files.filter((f) => f.path === 'config.json'),
      }),
    );
    writeFileSync(cache.incompletePath(sha1), shard1.subarray(0, 2_000_000));
    const snapshot = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    expect(readFileSync(join(snapshot.directory, 'model-00001-of-00002.safetensors')).equals(shard1)).toBe(true);
    expect(hub.log.cdnRanges.filter((entry) => entry.sha256 === sha1).map((entry) => entry.range)).toEqual([
      'bytes=2000000-',
    ]);
    expect(hub.log.cdnBytes.get(sha1)).toBe(shard1.byteLength - 2_000_000);
  });

  it('starts over when the server ignores Range (200), and still verifies the whole file', async () => {
    const sha1 = sha256Hex(shard1);
    hub.dropOnce(sha1, 500_000);
    hub.ignoreRange = true;
    const snapshot = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    expect(readFileSync(join(snapshot.directory, 'model-00001-of-00002.safetensors')).equals(shard1)).toBe(true);
    expect(hub.log.cdnBytes.get(sha1)).toBe(500_000 + shard1.byteLength);
  });

  it('deletes a corrupted transfer and fetches it again; a corrupted cached blob is found and replaced', async () => {
    const sha2 = sha256Hex(shard2);
    hub.corruptOnce(sha2);
    const snapshot = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    const path = join(snapshot.directory, 'model-00002-of-00002.safetensors');
    expect(readFileSync(path).equals(shard2)).toBe(true);
    expect(hub.log.cdnBytes.get(sha2)).toBe(2 * shard2.byteLength);

    // Same size, one byte flipped on disk: the next run re-hashes cached blobs and fetches this one only.
    const blob = new HubRepoCache(cacheDirectory, ziya.repo).blobPath(sha2);
    const damaged = Buffer.from(readFileSync(blob));
    damaged[10] = (damaged[10] ?? 0) ^ 1;
    writeFileSync(blob, damaged);
    const cdnBefore = cdnTotal();
    await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    expect(readFileSync(path).equals(shard2)).toBe(true);
    expect(cdnTotal() - cdnBefore).toBe(shard2.byteLength);
  });

  it('fails with one line and deletes the file when every transfer is corrupted', async () => {
    const sha2 = sha256Hex(shard2);
    hub.corruptOnce(sha2);
    const first = downloadSnapshot(
      options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', undefined, {
        onProgress: (event) => {
          // Corrupt the refetch too, once the first transfer of this file has started.
          if (event.file === 'model-00002-of-00002.safetensors') hub.corruptOnce(sha2);
        },
      }),
    );
    const error = await first.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HubError);
    expect((error as Error).message).toMatch(/model-00002-of-00002\.safetensors: checksum mismatch twice .*sha256/);
    expect((error as Error).message).not.toContain('\n');
    const cache = new HubRepoCache(cacheDirectory, ziya.repo);
    expect(existsSync(cache.incompletePath(sha2))).toBe(false);
    expect(existsSync(cache.blobPath(sha2))).toBe(false);
  });

  it('reports file, bytes, speed and time left', async () => {
    const events: { file: string; bytesDone: number; bytesPerSecond: number; secondsLeft: number | undefined }[] = [];
    await downloadSnapshot(
      options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', undefined, { onProgress: (event) => events.push(event) }),
    );
    const last = events.at(-1)!;
    expect(last.bytesDone).toBe(config.length + tokenizerModel.length + shard1.length + shard2.length);
    expect(new Set(events.map((event) => event.file))).toContain('model-00001-of-00002.safetensors');
    expect(events.some((event) => event.bytesPerSecond > 0 && event.secondsLeft !== undefined)).toBe(true);
  });

  it('with HF_HUB_OFFLINE=1 uses the cached snapshot without a request, and says when there is none', async () => {
    const online = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    const requests = hub.log.hubRequests.length;
    const offline = (reference: string) => ({
      ...options(reference),
      environment: { ...options(reference).environment, offline: true },
    });
    const cached = await downloadSnapshot(offline('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1'));
    expect(cached.directory).toBe(online.directory);
    expect(hub.log.hubRequests.length).toBe(requests);
    expect(hubEnvironment({ HF_HUB_OFFLINE: '1' }).offline).toBe(true);
    const error = await downloadSnapshot(offline('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1@v2')).catch(
      (caught: unknown) => caught,
    );
    expect((error as Error).message).toMatch(/@v2: HF_HUB_OFFLINE is set and the cache at .* holds no snapshot of it/);
  });

  it('URL-encodes a revision with slashes and records it under refs/', async () => {
    const snapshot = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1@refs/pr/1'));
    expect(snapshot.commit).toBe(commit);
    expect(hub.log.hubRequests).toContain('GET /api/models/IDEA-CCNL/Ziya-LLaMA-13B-v1/revision/refs%2Fpr%2F1');
    const root = join(cacheDirectory, 'models--IDEA-CCNL--Ziya-LLaMA-13B-v1');
    expect(readFileSync(join(root, 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(commit);
  });

  it('names HF_TOKEN on a gated repository: 401 without a token, 403 with one the repo refuses', async () => {
    const without = await downloadSnapshot(options('hf:huggyllama/llama-13b')).catch((error: unknown) => error);
    expect(without).toBeInstanceOf(HubError);
    expect((without as HubError).status).toBe(401);
    expect((without as Error).message).toMatch(/^hf:huggyllama\/llama-13b@main config\.json: 401, .*set HF_TOKEN/);
    // The metadata calls were answered: the refusal came on the file download, as on the Hub.
    expect(hub.log.hubRequests).toContain('GET /api/models/huggyllama/llama-13b/revision/main');

    const refused = await downloadSnapshot(options('hf:huggyllama/llama-13b', 'hf_bad')).catch(
      (error: unknown) => error,
    );
    expect((refused as HubError).status).toBe(403);
    expect((refused as Error).message).toMatch(/403, the account of HF_TOKEN has no access to this gated repository/);

    const accepted = await downloadSnapshot(options('hf:huggyllama/llama-13b', 'hf_good'));
    expect(readFileSync(join(accepted.directory, 'model.safetensors')).equals(shard2)).toBe(true);
  });

  it('names the revision or the repository that is not found', async () => {
    const revision = await downloadSnapshot(options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1@v9')).catch(
      (error: unknown) => error,
    );
    expect((revision as Error).message).toBe(
      'hf:IDEA-CCNL/Ziya-LLaMA-13B-v1@v9: revision "v9" not found in IDEA-CCNL/Ziya-LLaMA-13B-v1',
    );
    const repo = await downloadSnapshot(options('hf:IDEA-CCNL/nothing', 'hf_any')).catch((error: unknown) => error);
    expect((repo as Error).message).toBe('hf:IDEA-CCNL/nothing@main: repository IDEA-CCNL/nothing not found');
    const anonymous = await downloadSnapshot(options('hf:IDEA-CCNL/nothing')).catch((error: unknown) => error);
    expect((anonymous as Error).message).toMatch(/401, the repository is gated or private \(or does not exist\)/);
  });

  it('refuses up front when the disk cannot hold the download', async () => {
    const error = await downloadSnapshot(
      options('hf:IDEA-CCNL/Ziya-LLaMA-13B-v1', undefined, { freeBytes: () => 1_000_000 }),
    ).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/: 0\.0 GB to download but only 0\.0 GB free at .*HF_HUB_CACHE/);
    expect(resolveRequests()).toBe(0);
  });

  it('reads the cache from HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then HF_HOME/hub', () => {
    expect(hubEnvironment({ HF_HUB_CACHE: '/a', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }).cacheDirectory).toBe(
      '/a',
    );
    expect(hubEnvironment({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' }).cacheDirectory).toBe('/b');
    expect(hubEnvironment({ HF_HOME: '/c' }).cacheDirectory).toBe('/c/hub');
    expect(hubEnvironment({ HOME: '/home/u' }).cacheDirectory).toBe('/home/u/.cache/huggingface/hub');
    expect(hubEnvironment({ HOME: '/home/u' }).endpoint).toBe('https://huggingface.co');
  });

  it('takes HF_TOKEN, else the token huggingface-cli login saved under HF_HOME', () => {
    const home = join(cacheDirectory, 'hf-home');
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'token'), 'hf_saved\n');
    expect(hubEnvironment({ HF_HOME: home }).token).toBe('hf_saved');
    expect(hubEnvironment({ HF_HOME: home, HF_TOKEN: 'hf_env' }).token).toBe('hf_env');
    expect(hubEnvironment({ HF_HOME: join(cacheDirectory, 'empty-home') }).token).toBeUndefined();
  });
});
