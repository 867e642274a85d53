import { HubError } from './hub-error.ts';

/** How one request to the Hub is made: the endpoint, the token, and the `fetch` to use (tests pass none). */
export interface HubHttpOptions {
  endpoint: string;
  token: string | undefined;
  signal?: AbortSignal;
}

const maxRedirects = 10;

/** The URL of an API path or a resolve path on the endpoint; every path segment is URL-encoded. */
export function hubUrl(endpoint: string, segments: readonly string[], query = ''): string {
  return `${endpoint}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}${query}`;
}

/**
 * GETs a Hub URL, following redirects by hand so that the token goes to the endpoint's own origin only: an LFS
 * download is redirected to a CDN host, which must never see `Authorization`. Returns the final response (any
 * status) and the headers of the first redirect, which carry `X-Linked-Etag` and `X-Linked-Size`.
 */
export async function hubGet(
  url: string,
  options: HubHttpOptions,
  headers: Record<string, string> = {},
): Promise<{ response: Response; redirectHeaders: Headers | undefined }> {
  const endpointOrigin = new URL(options.endpoint).origin;
  let current = new URL(url);
  let redirectHeaders: Headers | undefined;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const requestHeaders: Record<string, string> = { 'user-agent': 'ziya-visual-bot', ...headers };
    if (options.token !== undefined && current.origin === endpointOrigin) {
      requestHeaders.authorization = `Bearer ${options.token}`;
    }
    let response: Response;
    try {
      response = await fetch(current, {
        headers: requestHeaders,
        redirect: 'manual',
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new HubError(
        `cannot reach ${current.origin} (${cause?.code ?? cause?.message ?? (error as Error).message}): ` +
          'check the network, or set HF_ENDPOINT to a mirror',
      );
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location !== null) {
      redirectHeaders ??= response.headers;
      await response.body?.cancel();
      current = new URL(location, current);
      continue;
    }
    return { response, redirectHeaders };
  }
  throw new HubError(`${url}: more than ${maxRedirects} redirects`);
}

/** What a failed request was for, so its one-line error names the repo, revision or file. */
export interface HubRequestSubject {
  repo: string;
  revision: string;
  file?: string;
}

/** Turns a non-2xx Hub answer into a one-line `HubError` naming what to fix. */
export async function hubResponseError(
  response: Response,
  subject: HubRequestSubject,
  hasToken: boolean,
): Promise<HubError> {
  await response.body?.cancel().catch(() => {});
  const code = response.headers.get('x-error-code') ?? '';
  const what = `hf:${subject.repo}@${subject.revision}${subject.file !== undefined ? ` ${subject.file}` : ''}`;
  switch (response.status) {
    case 401:
      return new HubError(
        hasToken
          ? `${what}: 401, the token in HF_TOKEN was refused (expired or mistyped?): create a read token at ` +
              'https://huggingface.co/settings/tokens and set HF_TOKEN to it'
          : `${what}: 401, the repository is gated or private (or does not exist): set HF_TOKEN to a read token of ` +
              'an account that has accepted its terms (https://huggingface.co/settings/tokens)',
        401,
      );
    case 403:
      return new HubError(
        `${what}: 403, the account of HF_TOKEN has no access${code === 'GatedRepo' ? ' to this gated repository' : ''}: ` +
          `accept its terms at https://huggingface.co/${subject.repo} with that account, or use a token with read access`,
        403,
      );
    case 404:
      if (code === 'RevisionNotFound') {
        return new HubError(`${what}: revision "${subject.revision}" not found in ${subject.repo}`, 404);
      }
      if (code === 'EntryNotFound' && subject.file !== undefined) {
        return new HubError(`${what}: file ${subject.file} not found at revision ${subject.revision}`, 404);
      }
      if (code === 'RepoNotFound') return new HubError(`${what}: repository ${subject.repo} not found`, 404);
      return new HubError(`${what}: 404 not found (check the repository name, the revision and the file)`, 404);
    default:
      return new HubError(`${what}: HTTP ${response.status} ${response.statusText}`.trim(), response.status);
  }
}
