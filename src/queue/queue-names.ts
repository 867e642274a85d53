import type { Platform } from '../contracts/platform.ts';

/**
 * Messages received, images not yet downloaded/validated: one queue per platform, consumed by that platform's adapter
 * (only it holds the credentials to download its attachments).
 */
export function ingestQueueName(platform: Platform): string {
  return `ingest-${platform}`;
}
/** One drain job per channel with waiting requests (consumed by model workers). */
export const requestsQueueName = 'requests';

/**
 * Final replies for one platform. Design §1 writes `replies:<platform>`, but BullMQ refuses `:` in queue names
 * ("Queue name cannot contain :"), so the name is `replies-<platform>`.
 */
export function repliesQueueName(platform: Platform): string {
  return `replies-${platform}`;
}
