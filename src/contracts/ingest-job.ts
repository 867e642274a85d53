import { z } from 'zod';
import { chatRequestSchema } from './chat-request.ts';

/** An attachment as received, before download and validation. */
export const ingestAttachmentSchema = z.discriminatedUnion('kind', [
  /** Bytes the adapter already holds (web uploads), parked in Redis under `upload:<key>` for the ingest worker. */
  z.object({
    kind: z.literal('upload'),
    uploadKey: z.string().min(1),
    fileName: z.string().optional(),
    mediaType: z.string().optional(),
    size: z.number().int().nonnegative(),
  }),
  /** A URL the adapter's downloader fetches (Discord attachment/CDN URLs). */
  z.object({
    kind: z.literal('url'),
    url: z.url(),
    fileName: z.string().optional(),
    mediaType: z.string().optional(),
    size: z.number().int().nonnegative().optional(),
  }),
  /** A platform file key the adapter's downloader resolves with its credentials (Lark image_key). */
  z.object({
    kind: z.literal('platform'),
    fileKey: z.string().min(1),
    messageId: z.string().min(1),
    fileName: z.string().optional(),
    mediaType: z.string().optional(),
  }),
]);
/** An attachment as received. */
export type IngestAttachment = z.infer<typeof ingestAttachmentSchema>;

/** A received message before its images are downloaded and validated (queue `ingest`, job id = request id). */
export const ingestJobSchema = chatRequestSchema.omit({ images: true }).extend({
  attachments: z.array(ingestAttachmentSchema),
});
/** A received message before its images are validated. */
export type IngestJob = z.infer<typeof ingestJobSchema>;
