import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubRepoCache } from './hub-cache.ts';
import type { HubEnvironment } from './hub-environment.ts';
import { HubError } from './hub-error.ts';
import { type HubHttpOptions, hubGet, hubResponseError, hubUrl } from './hub-http.ts';
import { type HubFile, listFiles, resolveCommit, selectBuildFiles } from './hub-listing.ts';
import { formatHubReference, type HubReference } from './hub-reference.ts';

/** A snapshot of a download, handed to `onProgress`. */
export interface HubDownloadProgress {
  /** `hf:owner/name@commit`. */
  repo: string;
  file: string;
  /** `check`: a cached file (or the start of an interrupted one) is being hashed; `download`: bytes are arriving. */
  phase: 'check' | 'download';
  fileBytes: number;
  fileSize: number;
  /** Bytes of the selected files present so far, cached ones included. */
  bytesDone: number;
  bytesTotal: number;
  /** Over the bytes fetched in this run. */
  bytesPerSecond: number;
  /** From the bytes still missing and the rate so far; undefined before anything was fetched. */
  secondsLeft: number | undefined;
}

/** Options of `downloadSnapshot`. */
export interface HubDownloadOptions {
  reference: HubReference;
  environment: HubEnvironment;
  /** Which files of the repository to fetch. @defaultValue `selectBuildFiles` */
  select?: (files: readonly HubFile[]) => HubFile[];
  onProgress?: (event: HubDownloadProgress) => void;
  signal?: AbortSignal;
  /** Tries per file when a connection drops; each try resumes where the last one stopped. @defaultValue 6 */
  attempts?: number;
  /** First wait between tries, doubled each time. @defaultValue 1000 */
  retryDelayMs?: number;
  /** Free bytes where the cache lives; tests replace it. @defaultValue `statfs` */
  freeBytes?: (directory: string) => number;
}

/** One file of a downloaded snapshot, with the digest it was checked against. */
export interface HubSnapshotFile {
  path: string;
  size: number;
  /** `sha256:<hex>` for an LFS file, `git-sha1:<hex>` for a regular one. */
  digest: string;
}

/** What `downloadSnapshot` produced. */
export interface HubSnapshot {
  /** `snapshots/<commit>` in the cache: a checkpoint directory the builders read in place. */
  directory: string;
  repo: string;
  revision: string;
  commit: string;
  files: HubSnapshotFile[];
  /** Bytes received over the network in this run (0 when everything was cached). */
  bytesFetched: number;
}

/**
 * Downloads the files of a Hub repository that a build needs into the shared cache and returns its snapshot
 * directory. Every file is checked, the ones already cached included: an LFS file against the sha256 of the
 * listing, a regular file against its git blob id. A file that fails is deleted and fetched again once, then the
 * download fails with a one-line `HubError`. An interrupted file resumes from its `.incomplete` bytes with a
 * `Range` request (hashed again from disk first, so a resumed file is verified as a whole).
 */
export async function downloadSnapshot(options: HubDownloadOptions): Promise<HubSnapshot> {
  const { reference, environment } = options;
  if (environment.offline) return cachedSnapshot(reference, environment);
  const http: HubHttpOptions = {
    endpoint: environment.endpoint,
    token: environment.token,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const commit = await resolveCommit(reference.repo, reference.revision, http);
  const listed = await listFiles(reference.repo, commit, http);
  const files = (options.select ?? selectBuildFiles)(listed);
  if (!files.some((file) => file.path === 'config.json')) {
    throw new HubError(`${formatHubReference(reference)}: the repository has no config.json at its top level`);
  }
  const cache = new HubRepoCache(environment.cacheDirectory, reference.repo);
  mkdirSync(cache.blobPath(''), { recursive: true });
  const download = new SnapshotDownload(options, http, cache, commit, files);
  download.checkFreeSpace();
  const result: HubSnapshotFile[] = [];
  for (const file of files) {
    await download.fetch(file);
    result.push({
      path: file.path,
      size: file.size,
      digest: file.sha256 !== undefined ? `sha256:${file.sha256}` : `git-sha1:${file.gitOid}`,
    });
  }
  cache.writeRef(reference.revision, commit);
  return {
    directory: cache.snapshotDirectory(commit),
    repo: reference.repo,
    revision: reference.revision,
    commit,
    files: result,
    bytesFetched: download.bytesFetched,
  };
}

/**
 * With `HF_HUB_OFFLINE=1`: the snapshot the cache already holds for the revision (a commit, or a branch or tag
 * through `refs/`), unchecked, as the Python tools do offline; nothing is fetched.
 */
function cachedSnapshot(reference: HubReference, environment: HubEnvironment): HubSnapshot {
  const cache = new HubRepoCache(environment.cacheDirectory, reference.repo);
  const commit = /^[0-9a-f]{40}$/.test(reference.revision) ? reference.revision : cache.readRef(reference.revision);
  const directory = commit === undefined ? undefined : cache.snapshotDirectory(commit);
  if (commit === undefined || directory === undefined || !existsSync(join(directory, 'config.json'))) {
    throw new HubError(
      `${formatHubReference(reference)}: HF_HUB_OFFLINE is set and the cache at ${environment.cacheDirectory} holds ` +
        'no snapshot of it: download it once without HF_HUB_OFFLINE',
    );
  }
  return { directory, repo: reference.repo, revision: reference.revision, commit, files: [], bytesFetched: 0 };
}

/** The name a file's blob has in the cache: its sha256 for LFS, its git blob id otherwise. */
function blobName(file: HubFile): string {
  return file.sha256 ?? file.gitOid;
}

/** Hashes a file from disk (a cached blob, or the bytes of an interrupted download). */
async function hashFile(path: string, hash: Hash, onBytes?: (bytes: number) => void): Promise<Hash> {
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
    onBytes?.(bytes);
  }
  return hash;
}

/** A digest of a file's content as the listing gives it: sha256 for LFS, `sha1("blob <size>\0" + content)` else. */
function newDigest(file: HubFile): Hash {
  if (file.sha256 !== undefined) return createHash('sha256');
  const hash = createHash('sha1');
  hash.update(`blob ${file.size}\0`);
  return hash;
}

function expectedDigest(file: HubFile): string {
  return file.sha256 ?? file.gitOid;
}

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Where a transfer stands: bytes in the `.incomplete` file and their running digest. */
interface TransferState {
  offset: number;
  hash: Hash;
}

/** A connection that dropped mid-body: worth another try from where it stopped. */
class InterruptedTransfer extends Error {
  override readonly name = 'InterruptedTransfer';
}

class SnapshotDownload {
  bytesFetched = 0;
  private bytesDone = 0;
  private readonly bytesTotal: number;
  private readonly startedAt = performance.now();
  private readonly label: string;

  constructor(
    private readonly options: HubDownloadOptions,
    private readonly http: HubHttpOptions,
    private readonly cache: HubRepoCache,
    private readonly commit: string,
    private readonly files: readonly HubFile[],
  ) {
    this.bytesTotal = files.reduce((sum, file) => sum + file.size, 0);
    this.label = formatHubReference(options.reference, commit);
  }

  /** Refuses up front when the missing bytes do not fit on the cache's disk. */
  checkFreeSpace(): void {
    let missing = 0;
    for (const file of this.files) {
      if (existsSync(this.cache.blobPath(blobName(file)))) continue;
      missing += file.size - sizeOf(this.cache.incompletePath(blobName(file)));
    }
    const free = (this.options.freeBytes ?? freeBytesAt)(this.cache.root);
    if (missing > free) {
      throw new HubError(
        `${this.label}: ${formatGb(missing)} to download but only ${formatGb(free)} free at ` +
          `${this.cache.root}: free some space or point HF_HUB_CACHE at a larger disk`,
      );
    }
  }

  /** Makes one file present and verified in the cache, and links it into the snapshot. */
  async fetch(file: HubFile): Promise<void> {
    const name = blobName(file);
    const blob = this.cache.blobPath(name);
    if (existsSync(blob)) {
      if (
        statSync(blob).size === file.size &&
        (await hashFile(blob, newDigest(file), this.checking(file))).digest('hex') === expectedDigest(file)
      ) {
        this.bytesDone += file.size;
        this.report(file, file.size, 'check');
        this.cache.link(this.commit, file.path, name);
        return;
      }
      rmSync(blob, { force: true });
    }
    for (let check = 0; ; check++) {
      const digest = await this.transfer(file);
      if (digest === expectedDigest(file)) break;
      rmSync(this.cache.incompletePath(name), { force: true });
      this.bytesDone -= file.size;
      if (check >= 1) {
        throw new HubError(
          `${this.label} ${file.path}: checksum mismatch twice (expected ${file.sha256 !== undefined ? 'sha256' : 'git sha1'} ` +
            `${expectedDigest(file)}, got ${digest}); the file was deleted: try again, or another HF_ENDPOINT`,
        );
      }
    }
    renameSync(this.cache.incompletePath(name), blob);
    this.cache.link(this.commit, file.path, name);
  }

  /** Brings `<blob>.incomplete` to the file's full size, resuming across dropped connections; returns its digest. */
  private async transfer(file: HubFile): Promise<string> {
    const path = this.cache.incompletePath(blobName(file));
    let offset = sizeOf(path);
    if (offset > file.size) {
      rmSync(path);
      offset = 0;
    }
    const state: TransferState = { offset, hash: newDigest(file) };
    if (offset > 0) await hashFile(path, state.hash, this.checking(file));
    this.bytesDone += offset;
    const attempts = this.options.attempts ?? 6;
    let failures = 0;
    while (state.offset < file.size || !existsSync(path)) {
      const before = state.offset;
      try {
        await this.request(file, path, state);
      } catch (error) {
        if (!(error instanceof InterruptedTransfer)) throw error;
        failures = state.offset > before ? 1 : failures + 1;
        if (failures >= attempts) {
          throw new HubError(
            `${this.label} ${file.path}: ${error.message}; ${attempts} tries failed, run again to resume`,
          );
        }
        await sleep((this.options.retryDelayMs ?? 1000) * 2 ** (failures - 1), undefined, {
          ...(this.options.signal ? { signal: this.options.signal } : {}),
        });
      }
    }
    return state.hash.digest('hex');
  }

  /**
   * One GET of the file from `state.offset` (a Range request when resuming), written into the `.incomplete` file;
   * `state` follows every byte written, so an interrupted request leaves it where the next one resumes.
   */
  private async request(file: HubFile, path: string, state: TransferState): Promise<void> {
    const { repo } = this.options.reference;
    const url = hubUrl(this.http.endpoint, [...repo.split('/'), 'resolve', this.commit, ...file.path.split('/')]);
    // Byte offsets must count the stored bytes: no transparent compression while resuming.
    const headers: Record<string, string> =
      state.offset > 0 ? { range: `bytes=${state.offset}-`, 'accept-encoding': 'identity' } : {};
    let response: Response;
    try {
      ({ response } = await hubGet(url, this.http, headers));
    } catch (error) {
      if (error instanceof HubError && error.status === undefined) throw new InterruptedTransfer(error.message);
      throw error;
    }
    const subject = { repo, revision: this.options.reference.revision, file: file.path };
    if (response.status === 416 && state.offset === file.size) return;
    if (!response.ok) {
      if (response.status >= 500) {
        await response.body?.cancel();
        throw new InterruptedTransfer(`HTTP ${response.status}`);
      }
      throw await hubResponseError(response, subject, this.http.token !== undefined);
    }
    if (state.offset > 0) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (response.status !== 206 || range === null || Number(range[1]) !== state.offset) {
        // The range was ignored (200) or answered for other bytes: start over from byte 0.
        this.bytesDone -= state.offset;
        state.offset = 0;
        state.hash = newDigest(file);
      }
    }
    const descriptor = openSync(path, state.offset === 0 ? 'w' : 'r+');
    try {
      let lastReport = 0;
      if (response.body === null) throw new InterruptedTransfer('empty body');
      try {
        for await (const chunk of response.body) {
          const bytes = chunk as Uint8Array;
          if (state.offset + bytes.byteLength > file.size) {
            throw new HubError(`${this.label} ${file.path}: the Hub sent more than the ${file.size} bytes listed`);
          }
          writeAll(descriptor, bytes, state.offset, this.cache.root);
          state.hash.update(bytes);
          state.offset += bytes.byteLength;
          this.bytesFetched += bytes.byteLength;
          this.bytesDone += bytes.byteLength;
          const now = performance.now();
          if (now - lastReport > 250) {
            lastReport = now;
            this.report(file, state.offset);
          }
        }
      } catch (error) {
        if (error instanceof HubError || (error as Error).name === 'AbortError') throw error;
        throw new InterruptedTransfer(`connection lost after ${state.offset} of ${file.size} bytes`);
      }
      this.report(file, state.offset);
      if (state.offset < file.size) {
        throw new InterruptedTransfer(`connection closed after ${state.offset} of ${file.size} bytes`);
      }
    } finally {
      closeSync(descriptor);
    }
  }

  /** Reports the hashing of a file already on disk, at most four times a second. */
  private checking(file: HubFile): (bytes: number) => void {
    let lastReport = 0;
    return (bytes) => {
      const now = performance.now();
      if (now - lastReport < 250) return;
      lastReport = now;
      this.report(file, bytes, 'check');
    };
  }

  private report(file: HubFile, fileBytes: number, phase: HubDownloadProgress['phase'] = 'download'): void {
    if (this.options.onProgress === undefined) return;
    const seconds = (performance.now() - this.startedAt) / 1000;
    const bytesPerSecond = seconds > 0 ? this.bytesFetched / seconds : 0;
    this.options.onProgress({
      repo: this.label,
      file: file.path,
      phase,
      fileBytes,
      fileSize: file.size,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      bytesPerSecond,
      secondsLeft: bytesPerSecond > 0 ? (this.bytesTotal - this.bytesDone) / bytesPerSecond : undefined,
    });
  }
}

/** Writes every byte at `position`; a full disk becomes a one-line `HubError`. */
function writeAll(descriptor: number, bytes: Uint8Array, position: number, cacheRoot: string): void {
  let written = 0;
  try {
    while (written < bytes.byteLength) {
      written += writeSync(descriptor, bytes, written, bytes.byteLength - written, position + written);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC' || (error as NodeJS.ErrnoException).code === 'EDQUOT') {
      throw new HubError(
        `the disk of ${cacheRoot} is full: free some space or point HF_HUB_CACHE at a larger disk, then run again ` +
          'to resume',
      );
    }
    throw error;
  }
}

function freeBytesAt(directory: string): number {
  const stats = statfsSync(directory);
  return stats.bavail * stats.bsize;
}

function formatGb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}
