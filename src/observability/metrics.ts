import type { Queue } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's own metrics (one set per process, whatever its role): Node's default metrics (event-loop lag
 * included: inference steps run on the main thread) and the counters and histograms below. Adapters, workers and
 * the pipeline increment these directly; {@link createMetricsRegistry} adds the queue depths read at scrape time.
 */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });

const registers = [processRegistry];

/** Seconds from a message's arrival (`receivedAt`) to the start of its generation. Labels: platform. */
export const requestWaitSeconds = new Histogram({
  name: 'zvb_request_wait_seconds',
  help: 'Seconds from receiving a message to starting its generation (queue + channel line wait).',
  labelNames: ['platform'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320],
  registers,
});

/** Seconds one generation took (vision tower, prefill and decode). Labels: finish_reason. */
export const generationSeconds = new Histogram({
  name: 'zvb_generation_seconds',
  help: 'Seconds one answer took to generate.',
  labelNames: ['finish_reason'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120],
  registers,
});

/** Seconds from the start of a generation to its first token. */
export const timeToFirstTokenSeconds = new Histogram({
  name: 'zvb_time_to_first_token_seconds',
  help: 'Seconds from the start of a generation to its first generated token.',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
  registers,
});

/** Decode speed of each generation (generated tokens / decode seconds). */
export const generationTokensPerSecond = new Histogram({
  name: 'zvb_generation_tokens_per_second',
  help: 'Decode speed of one generation in tokens per second.',
  buckets: [1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500],
  registers,
});

/** Tokens generated, all generations together (rate() of it = the worker's throughput). */
export const generatedTokens = new Counter({
  name: 'zvb_generated_tokens_total',
  help: 'Tokens generated.',
  registers,
});

/** Images ingested. Labels: platform, result (`stored` or the rejection key). */
export const imagesProcessed = new Counter({
  name: 'zvb_images_processed_total',
  help: 'Images downloaded and validated by ingest, by result (stored, or the rejection key).',
  labelNames: ['platform', 'result'] as const,
  registers,
});

/** Platform messages dropped because they were received before (redeliveries, retries). Labels: platform. */
export const duplicatesDropped = new Counter({
  name: 'zvb_duplicates_dropped_total',
  help: 'Received messages dropped as duplicates of one received before.',
  labelNames: ['platform'] as const,
  registers,
});

/** Messages refused by the per-user / per-channel rate limits. Labels: platform, outcome (`notified`, `dropped`). */
export const messagesRateLimited = new Counter({
  name: 'zvb_messages_rate_limited_total',
  help: 'Received messages refused by the rate limits: notified (answered with a slow-down reply) or dropped.',
  labelNames: ['platform', 'outcome'] as const,
  registers,
});

/** Failed platform API calls. Labels: platform, operation (e.g. `send`, `edit`, `download`, `deliver`). */
export const platformErrors = new Counter({
  name: 'zvb_platform_errors_total',
  help: 'Platform API calls that failed, by platform and operation.',
  labelNames: ['platform', 'operation'] as const,
  registers,
});

/** Platform answers that said "rate limited" (HTTP 429, Lark code 99991400). Labels: platform, operation. */
export const platformRateLimited = new Counter({
  name: 'zvb_platform_rate_limited_total',
  help: 'Platform API calls answered with a rate limit (HTTP 429 or the platform code for it).',
  labelNames: ['platform', 'operation'] as const,
  registers,
});

/** Final replies handed to the platform. Labels: platform, outcome (`answer` or `error`). */
export const repliesDelivered = new Counter({
  name: 'zvb_replies_delivered_total',
  help: 'Final replies delivered to the platform.',
  labelNames: ['platform', 'outcome'] as const,
  registers,
});

/** Generations running in this worker process now. */
export const workerBusy = new Gauge({
  name: 'zvb_worker_busy',
  help: 'Generations running in this worker process now (busy slots).',
  registers,
});

/** Generation slots of this worker process (its concurrency); idle slots = this − zvb_worker_busy. */
export const workerSlots = new Gauge({
  name: 'zvb_worker_slots',
  help: 'Generation slots of this worker process (WORKER_CONCURRENCY).',
  registers,
});

const queueCountTimeoutMs = 2000;

/** `promise`, or a rejection after `ms` (the promise itself is left to settle). */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The job states counted by `zvb_queue_jobs`; waiting + prioritized + active is the demand KEDA scales on. */
export const queueStates = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

/**
 * A registry for `/metrics`: the process's metrics plus `zvb_queue_jobs{queue,state}`, the depth of the given queues
 * read from Redis at scrape time. Every process that has the queues exposes it; dashboards and KEDA take the `max`
 * over pods, never the sum.
 */
export function createMetricsRegistry(queues: readonly Queue[]): Registry {
  const queueRegistry = new Registry();
  new Gauge({
    name: 'zvb_queue_jobs',
    help: 'Jobs per queue and state (scale GPU workers on requests waiting + prioritized + active).',
    labelNames: ['queue', 'state'],
    registers: [queueRegistry],
    async collect() {
      this.reset();
      // Redis away (commands wait for the reconnect): no queue series rather than a hung scrape.
      const depths = await withTimeout(
        Promise.all(
          queues.map(async (queue) => ({ name: queue.name, counts: await queue.getJobCounts(...queueStates) })),
        ),
        queueCountTimeoutMs,
      ).catch(() => []);
      for (const { name, counts } of depths) {
        for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
      }
    },
  });
  return Registry.merge([processRegistry, queueRegistry]);
}
