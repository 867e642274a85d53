import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

/** One file of a fake repository; `lfs` files are served through a redirect to the fake CDN. */
export interface FakeHubFile {
  path: string;
  content: Uint8Array;
  lfs: boolean;
}

/** A fake model repository with one commit. */
export interface FakeHubRepo {
  repo: string;
  commit: string;
  /** Branches and tags that resolve to `commit` (and `commit` itself always does). @defaultValue ['main'] */
  revisions?: string[];
  files: FakeHubFile[];
  /** Resolve answers 401 without a token and 403 with a token other than `acceptedToken`. */
  gated?: boolean;
}

/** What the fake Hub and its CDN saw, for assertions. */
export interface FakeHubLog {
  /** Every request line on the Hub host, as `METHOD path`. */
  hubRequests: string[];
  /** `Authorization` header of every request on the Hub host ('' when absent). */
  hubAuthorization: string[];
  /** `Authorization` header of every request on the CDN host ('' when absent). */
  cdnAuthorization: string[];
  /** `Range` header of every CDN request ('' when absent), with the blob it asked for. */
  cdnRanges: { sha256: string; range: string }[];
  /** Body bytes the CDN wrote, per blob sha256. */
  cdnBytes: Map<string, number>;
  /** Paths of regular files the Hub sent gzipped, without a Content-Length. */
  gzipped: string[];
}

/** A running fake Hub (`endpoint`, for HF_ENDPOINT) and the CDN host its LFS redirects point at. */
export interface FakeHub {
  endpoint: string;
  cdnOrigin: string;
  log: FakeHubLog;
  /** The next CDN response for this blob sends `afterBytes` body bytes and then drops the connection. */
  dropOnce(sha256: string, afterBytes: number): void;
  /** The next CDN response for this blob flips one byte of the content. */
  corruptOnce(sha256: string): void;
  /** CDN requests ignore `Range` and answer 200 with the whole file. */
  ignoreRange: boolean;
  close(): Promise<void>;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The git blob id of some bytes: `sha1("blob <size>\0" + bytes)`. */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/** The text of a Git LFS pointer file, whose git id is the tree listing's `oid` for an LFS file. */
function lfsPointer(content: Uint8Array): Buffer {
  return Buffer.from(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256Hex(content)}\nsize ${content.byteLength}\n`,
  );
}

const listen = (server: Server) =>
  new Promise<string>((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });

function sendError(response: ServerResponse, status: number, code: string, message: string): void {
  response.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code, 'x-error-message': message });
  response.end(JSON.stringify({ error: message }));
}

/**
 * Starts a fake Hugging Face Hub answering what a client calls: `/api/models/<repo>/revision/<rev>`, the
 * paginated `/api/models/<repo>/tree/<rev>?recursive=true` (LFS entries carry `lfs.oid`, their `oid` is the
 * pointer's git id), and `/<repo>/resolve/<rev>/<path>`: regular files answered in place (gzipped, without a
 * Content-Length, when the client accepts gzip; ETag = git blob id), LFS files with a 302 to another host (the
 * CDN: another port, so another origin) carrying `X-Linked-Etag` and `X-Linked-Size`. The CDN honours `Range`.
 */
export async function startFakeHub(
  repos: readonly FakeHubRepo[],
  options: { pageSize?: number; acceptedToken?: string } = {},
): Promise<FakeHub> {
  const pageSize = options.pageSize ?? 2;
  const log: FakeHubLog = {
    hubRequests: [],
    hubAuthorization: [],
    cdnAuthorization: [],
    cdnRanges: [],
    cdnBytes: new Map(),
    gzipped: [],
  };
  const blobs = new Map<string, Uint8Array>();
  for (const repo of repos)
    for (const file of repo.files) if (file.lfs) blobs.set(sha256Hex(file.content), file.content);
  const drops = new Map<string, number>();
  const corruptions = new Set<string>();
  let endpoint = '';
  let cdnOrigin = '';
  const fake = { ignoreRange: false };

  const findRepo = (owner: string, name: string) => repos.find((repo) => repo.repo === `${owner}/${name}`);
  const resolvesTo = (repo: FakeHubRepo, revision: string) =>
    revision === repo.commit || (repo.revisions ?? ['main']).includes(revision);

  const hub = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', endpoint);
    log.hubRequests.push(`${request.method} ${url.pathname}${url.search}`);
    const authorization = request.headers.authorization ?? '';
    log.hubAuthorization.push(authorization);
    const segments = url.pathname.split('/').slice(1);
    if (segments[0] === 'api' && segments[1] === 'models') {
      const [, , owner = '', name = '', kind = '', revision = ''] = segments;
      const repo = findRepo(owner, name);
      if (repo === undefined) {
        // Like the Hub: without a token a missing repository looks like a private one.
        if (authorization === '') sendError(response, 401, 'RepoNotFound', 'Repository not found');
        else sendError(response, 404, 'RepoNotFound', 'Repository not found');
        return;
      }
      const decoded = decodeURIComponent(revision);
      if (!resolvesTo(repo, decoded)) {
        sendError(response, 404, 'RevisionNotFound', `Invalid rev id: ${decoded}`);
        return;
      }
      if (kind === 'revision') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ id: repo.repo, sha: repo.commit, gated: repo.gated ? 'manual' : false }));
        return;
      }
      if (kind === 'tree') {
        const entries = [
          { type: 'directory', oid: '0'.repeat(40), size: 0, path: 'images' },
          ...repo.files.map((file) =>
            file.lfs
              ? {
                  type: 'file',
                  oid: gitBlobId(lfsPointer(file.content)),
                  size: file.content.byteLength,
                  path: file.path,
                  lfs: { oid: sha256Hex(file.content), size: file.content.byteLength, pointerSize: 130 },
                }
              : { type: 'file', oid: gitBlobId(file.content), size: file.content.byteLength, path: file.path },
          ),
        ];
        const cursor = Number(url.searchParams.get('cursor') ?? 0);
        const page = entries.slice(cursor, cursor + pageSize);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (cursor + pageSize < entries.length) {
          const next = new URL(url.toString());
          next.searchParams.set('cursor', String(cursor + pageSize));
          headers.link = `<${next.toString()}>; rel="next"`;
        }
        response.writeHead(200, headers);
        response.end(JSON.stringify(page));
        return;
      }
      sendError(response, 404, 'EntryNotFound', 'no such API');
      return;
    }
    const [owner = '', name = '', kind = '', revision = '', ...pathSegments] = segments;
    const repo = findRepo(owner, name);
    if (kind !== 'resolve' || repo === undefined) {
      sendError(response, authorization === '' ? 401 : 404, 'RepoNotFound', 'Repository not found');
      return;
    }
    if (!resolvesTo(repo, decodeURIComponent(revision))) {
      sendError(response, 404, 'RevisionNotFound', 'Invalid rev id');
      return;
    }
    if (repo.gated && authorization === '') {
      sendError(response, 401, 'GatedRepo', 'Access to this gated repo is restricted: you must be authenticated');
      return;
    }
    if (repo.gated && authorization !== `Bearer ${options.acceptedToken}`) {
      sendError(response, 403, 'GatedRepo', 'Access to this gated repo is restricted: you are not in the list');
      return;
    }
    const path = pathSegments.map((segment) => decodeURIComponent(segment)).join('/');
    const file = repo.files.find((candidate) => candidate.path === path);
    if (file === undefined) {
      sendError(response, 404, 'EntryNotFound', `${path} does not exist`);
      return;
    }
    if (file.lfs) {
      const sha256 = sha256Hex(file.content);
      response.writeHead(302, {
        location: `${cdnOrigin}/blobs/${sha256}?expires=1&signature=abc`,
        'x-linked-etag': `"${sha256}"`,
        'x-linked-size': String(file.content.byteLength),
        'x-repo-commit': repo.commit,
        etag: `"${gitBlobId(lfsPointer(file.content))}"`,
      });
      response.end();
      return;
    }
    const headers: Record<string, string> = { etag: `"${gitBlobId(file.content)}"`, 'x-repo-commit': repo.commit };
    if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) {
      log.gzipped.push(path);
      response.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' });
      response.end(gzipSync(file.content));
      return;
    }
    response.writeHead(200, { ...headers, 'content-length': String(file.content.byteLength) });
    response.end(file.content);
  });

  const cdn = createServer((request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', cdnOrigin);
    log.cdnAuthorization.push(request.headers.authorization ?? '');
    const sha256 = url.pathname.replace('/blobs/', '');
    const range = request.headers.range ?? '';
    log.cdnRanges.push({ sha256, range });
    const content = blobs.get(sha256);
    if (content === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    let body = content;
    if (corruptions.delete(sha256)) {
      body = Uint8Array.from(content);
      body[body.byteLength >> 1] = (body[body.byteLength >> 1] ?? 0) ^ 0xff;
    }
    const match = /^bytes=(\d+)-$/.exec(range);
    let start = 0;
    if (match !== null && !fake.ignoreRange) {
      start = Number(match[1]);
      if (start >= content.byteLength) {
        response.writeHead(416, { 'content-range': `bytes */${content.byteLength}` });
        response.end();
        return;
      }
      response.writeHead(206, {
        'content-range': `bytes ${start}-${content.byteLength - 1}/${content.byteLength}`,
        'content-length': String(content.byteLength - start),
      });
    } else {
      response.writeHead(200, { 'content-length': String(content.byteLength) });
    }
    const count = (bytes: number) => log.cdnBytes.set(sha256, (log.cdnBytes.get(sha256) ?? 0) + bytes);
    const drop = drops.get(sha256);
    if (drop !== undefined) {
      drops.delete(sha256);
      const part = body.subarray(start, start + drop);
      count(part.byteLength);
      response.write(part, () => setTimeout(() => response.socket?.destroy(), 20));
      return;
    }
    count(body.byteLength - start);
    response.end(body.subarray(start));
  });

  endpoint = await listen(hub);
  cdnOrigin = await listen(cdn);
  return {
    endpoint,
    cdnOrigin,
    log,
    dropOnce: (sha256, afterBytes) => drops.set(sha256, afterBytes),
    corruptOnce: (sha256) => corruptions.add(sha256),
    get ignoreRange() {
      return fake.ignoreRange;
    },
    set ignoreRange(value: boolean) {
      fake.ignoreRange = value;
    },
    close: async () => {
      hub.closeAllConnections();
      cdn.closeAllConnections();
      await Promise.all([new Promise((resolve) => hub.close(resolve)), new Promise((resolve) => cdn.close(resolve))]);
    },
  };
}
