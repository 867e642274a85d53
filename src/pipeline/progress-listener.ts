import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Progress, progressSchema } from '../contracts/channel-entry.ts';
import { requestsQueueName } from '../queue/queue-names.ts';

/** Receives the streamed partial answers of the requests this adapter instance received. */
export interface ProgressListener {
  close(): Promise<void>;
}

/**
 * Listens to `requests` progress events (they reach every listener) and passes on the ones whose
 * `adapterInstance` is ours. Needs a dedicated connection (QueueEvents blocks on XREAD); it is closed with the listener.
 */
export async function startProgressListener(
  connection: Redis,
  prefix: string,
  adapterInstance: string,
  onProgress: (progress: Progress) => void,
  onError: (error: Error) => void = () => {},
): Promise<ProgressListener> {
  const events = new QueueEvents(requestsQueueName, { connection, prefix });
  // Connection errors while Redis is away; QueueEvents reconnects by itself.
  events.on('error', onError);
  events.on('progress', ({ data }) => {
    const parsed = progressSchema.safeParse(data);
    if (parsed.success && parsed.data.adapterInstance === adapterInstance) onProgress(parsed.data);
  });
  await events.waitUntilReady();
  return {
    async close() {
      await events.close();
      connection.disconnect();
    },
  };
}
