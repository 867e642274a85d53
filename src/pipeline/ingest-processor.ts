import type { Job } from 'bullmq';
import type { ReplyError } from '../contracts/chat-reply.ts';
import { replyErrorSchema } from '../contracts/chat-reply.ts';
import type { ChatRequest } from '../contracts/chat-request.ts';
import { parseContract } from '../contracts/contract-error.ts';
import type { ImageRef } from '../contracts/image-ref.ts';
import { type IngestAttachment, type IngestJob, ingestJobSchema } from '../contracts/ingest-job.ts';
import { normalizeImage } from '../images/normalize-image.ts';
import { imagesProcessed } from '../observability/metrics.ts';
import { validateText } from '../text/validate-text.ts';
import type { PipelineContext } from './pipeline-context.ts';

/** Validates and normalizes image bytes; throws an error with a `key` (a reply error key) for bad input. */
export type NormalizeImage = (
  bytes: Uint8Array,
  limits: { maxBytes: number; maxPixels: number },
) => Promise<{ bytes: Uint8Array; sha256: string; mediaType: string; width: number; height: number }>;

/** Fetches an attachment's bytes with the adapter's credentials (URL and platform file kinds). */
export type DownloadAttachment = (attachment: IngestAttachment, signal?: AbortSignal) => Promise<Uint8Array>;

/** The uploaded bytes are gone (expired before ingest ran). */
export class UploadMissingError extends Error {
  override readonly name = 'UploadMissingError';
}

/** What the ingest processor needs besides the shared pipeline parts. */
export interface IngestDependencies {
  /** @defaultValue the image module's `normalizeImage` */
  normalizeImage?: NormalizeImage;
  /** Needed only by adapters whose attachments are not uploads. */
  downloadAttachment?: DownloadAttachment;
}

function rejectionKeyOf(error: unknown): ReplyError | undefined {
  if (typeof error !== 'object' || error === null || !('key' in error)) return undefined;
  const key = String((error as { key: unknown }).key).replace(/^error\./, '');
  const parsed = replyErrorSchema.safeParse(key);
  return parsed.success ? parsed.data : 'image_unreadable';
}

async function attachmentBytes(
  pipeline: PipelineContext,
  dependencies: IngestDependencies,
  attachment: IngestAttachment,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  if (attachment.kind === 'upload') {
    const bytes = await pipeline.uploads.read(attachment.uploadKey);
    if (bytes === undefined) throw new UploadMissingError(`upload ${attachment.uploadKey} is gone`);
    return bytes;
  }
  if (dependencies.downloadAttachment === undefined) {
    throw new UploadMissingError(`no downloader for ${attachment.kind} attachments`);
  }
  return await dependencies.downloadAttachment(attachment, signal);
}

/** A refused text cut to the text limit: enough to detect the reply's language, never a huge value kept for hours. */
function cutText(pipeline: PipelineContext, text: string): string {
  return [...text.slice(0, 2 * pipeline.settings.TEXT_MAX_CHARACTERS)]
    .slice(0, pipeline.settings.TEXT_MAX_CHARACTERS)
    .join('');
}

function requestOf(job: IngestJob, images: ImageRef[], text: string): ChatRequest {
  return {
    version: 1,
    id: job.id,
    platform: job.platform,
    channelKey: job.channelKey,
    replyTarget: job.replyTarget,
    user: job.user,
    text,
    images,
    ...(job.languageHint === undefined ? {} : { languageHint: job.languageHint }),
    receivedAt: job.receivedAt,
    adapterInstance: job.adapterInstance,
  };
}

/**
 * Ingest: validates the text, fetches, normalizes and stores the image (Ziya looks at one picture: the first),
 * leaves the request (or its rejection, answered in order as a localized error) under `req:<id>`, and makes sure the
 * channel's drain job exists.
 */
export async function ingestMessage(
  pipeline: PipelineContext,
  dependencies: IngestDependencies,
  data: unknown,
  signal?: AbortSignal,
): Promise<{ requestId: string; rejection?: ReplyError }> {
  const job = parseContract('IngestJob', ingestJobSchema, data);
  const { settings } = pipeline;
  const hasImage = job.attachments.length > 0;
  const checkedText = validateText(job.text, { maxChars: settings.TEXT_MAX_CHARACTERS, allowEmpty: hasImage });
  let rejection: ReplyError | undefined = checkedText.ok ? undefined : checkedText.key;
  const images: ImageRef[] = [];
  const first = job.attachments[0];
  if (rejection === undefined && first !== undefined) {
    try {
      if (first.kind === 'upload' && first.size > settings.IMAGE_MAX_BYTES) throw { key: 'image_too_large' };
      const raw = await attachmentBytes(pipeline, dependencies, first, signal);
      if (raw.byteLength > settings.IMAGE_MAX_BYTES) throw { key: 'image_too_large' };
      const image = await (dependencies.normalizeImage ?? normalizeImage)(raw, {
        maxBytes: settings.IMAGE_MAX_BYTES,
        maxPixels: settings.IMAGE_MAX_PIXELS,
      });
      await pipeline.images.put(image.sha256, image.bytes);
      imagesProcessed.inc({ platform: job.platform, result: 'stored' });
      images.push({
        sha256: image.sha256,
        mediaType: image.mediaType,
        width: image.width,
        height: image.height,
        bytes: image.bytes.byteLength,
      });
    } catch (error) {
      rejection = rejectionKeyOf(error);
      if (rejection === undefined) throw error; // transient (Redis, network): BullMQ retries with backoff
      imagesProcessed.inc({ platform: job.platform, result: rejection });
    }
  }
  const text = checkedText.ok ? checkedText.text : cutText(pipeline, job.text);
  await pipeline.line.putEntry({
    version: 1,
    request: requestOf(job, images, text),
    ...(rejection === undefined ? {} : { rejection }),
  });
  await pipeline.queues.addDrain(job.channelKey);
  for (const attachment of job.attachments) {
    if (attachment.kind === 'upload') await pipeline.uploads.discard(attachment.uploadKey);
  }
  pipeline.logger.debug({ requestId: job.id, rejection }, 'ingested');
  return { requestId: job.id, ...(rejection === undefined ? {} : { rejection }) };
}

/**
 * Answers a message with `rejection` in its place in the channel's line, without looking at its text or images (the
 * text is cut to the text limit: the reply's language is detected from it).
 */
export async function rejectMessage(pipeline: PipelineContext, job: IngestJob, rejection: ReplyError): Promise<void> {
  await pipeline.line.putEntry({ version: 1, request: requestOf(job, [], cutText(pipeline, job.text)), rejection });
  await pipeline.queues.addDrain(job.channelKey);
}

/**
 * After the last attempt failed (or the job data broke its contract), the request still gets its answer: a
 * rejection entry in its place in the line, so the channel is not blocked and the user hears about it.
 */
export async function rejectFailedIngest(pipeline: PipelineContext, job: Job | undefined): Promise<void> {
  const parsed = ingestJobSchema.safeParse(job?.data);
  if (!parsed.success) return;
  await pipeline.line.putEntry({
    version: 1,
    request: requestOf(parsed.data, [], cutText(pipeline, parsed.data.text)),
    rejection: 'internal',
  });
  await pipeline.queues.addDrain(parsed.data.channelKey);
}
