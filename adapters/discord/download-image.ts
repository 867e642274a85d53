import type { IngestAttachment } from '../../src/contracts/ingest-job.ts';
import type { DownloadAttachment } from '../../src/pipeline/ingest-processor.ts';
import { isAllowedImageUrl } from './discord-config.ts';

/** An image the bot will not fetch or cannot use; `key` is the reply error the user is told. */
export class DiscordImageDownloadError extends Error {
  override readonly name = 'DiscordImageDownloadError';
  constructor(
    readonly key: 'image_too_large' | 'image_unreadable',
    readonly detail: string,
  ) {
    super(`image download refused (${key}): ${detail}`);
  }
}

/** A transient failure (the CDN answered 5xx or the connection broke): the ingest job retries. */
export class DiscordCdnError extends Error {
  override readonly name = 'DiscordCdnError';
  readonly retryable = true;
}

const maxRedirects = 3;

/**
 * The downloader of the Discord adapter: fetches `url` attachments from Discord's CDN (or the API override's origin)
 * only, follows redirects only while they stay on those origins, and stops reading past `maxBytes`. A download
 * still unfinished after `timeoutMs` (a CDN that stopped answering) fails as a retryable {@link DiscordCdnError}:
 * it would otherwise hold its channel's line, and every later message of the channel, for as long as it hangs.
 */
export function createDiscordImageDownloader(options: {
  imageOrigins: readonly string[];
  maxBytes: number;
  /** @defaultValue 30000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
}): DownloadAttachment {
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return async (attachment: IngestAttachment, jobSignal?: AbortSignal): Promise<Uint8Array> => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = jobSignal === undefined ? timeout : AbortSignal.any([jobSignal, timeout]);
    try {
      return await download(attachment, signal);
    } catch (error) {
      if (!timeout.aborted || error instanceof DiscordCdnError) throw error;
      throw new DiscordCdnError(`fetching an image took longer than ${timeoutMs} ms`);
    }
  };

  async function download(attachment: IngestAttachment, signal: AbortSignal): Promise<Uint8Array> {
    if (attachment.kind !== 'url')
      throw new DiscordImageDownloadError('image_unreadable', `${attachment.kind} attachment`);
    if (attachment.size !== undefined && attachment.size > options.maxBytes) {
      throw new DiscordImageDownloadError('image_too_large', `${attachment.size} bytes`);
    }
    let url = attachment.url;
    for (let hop = 0; hop <= maxRedirects; hop += 1) {
      if (!isAllowedImageUrl(url, options.imageOrigins)) {
        throw new DiscordImageDownloadError('image_unreadable', `host not allowed: ${new URL(url).host}`);
      }
      let response: Response;
      try {
        response = await fetchImpl(url, { redirect: 'manual', signal });
      } catch (error) {
        throw new DiscordCdnError(`fetching an image failed: ${(error as Error).message}`);
      }
      if (response.status >= 300 && response.status < 400) {
        const location = response.headers.get('location');
        await response.body?.cancel();
        if (location === null) throw new DiscordImageDownloadError('image_unreadable', 'redirect without location');
        url = new URL(location, url).toString();
        continue;
      }
      if (response.status >= 500) {
        await response.body?.cancel();
        throw new DiscordCdnError(`the CDN answered ${response.status}`);
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new DiscordImageDownloadError('image_unreadable', `the CDN answered ${response.status}`);
      }
      const length = Number(response.headers.get('content-length') ?? Number.NaN);
      if (length > options.maxBytes) {
        await response.body?.cancel();
        throw new DiscordImageDownloadError('image_too_large', `${length} bytes`);
      }
      return await readCapped(response, options.maxBytes);
    }
    throw new DiscordImageDownloadError('image_unreadable', 'too many redirects');
  }
}

async function readCapped(response: Response, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body === null) return new Uint8Array();
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new DiscordImageDownloadError('image_too_large', `more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
