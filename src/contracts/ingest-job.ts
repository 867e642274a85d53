import { z } from 'zod';
import { chatUserSchema } from './chat-request.ts';
import { channelKeySchema, platformSchema, replyTargetSchema, requestIdSchema } from './platform.ts';

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
export const ingestJobSchema = z.object({
  version: z.literal(1),
  id: requestIdSchema,
  platform: platformSchema,
  channelKey: channelKeySchema,
  replyTarget: replyTargetSchema,
  user: chatUserSchema,
  text: z.string(),
  attachments: z.array(ingestAttachmentSchema),
  languageHint: z.string().min(2).optional(),
  receivedAt: z.iso.datetime(),
  adapterInstance: z.string().min(1),
});
/** A received message before its images are validated. */
export type IngestJob = z.infer<typeof ingestJobSchema>;
