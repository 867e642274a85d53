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

/** 1 while the platform connection of this process is up (Lark long connection), 0 during a gap. Labels: platform. */
export const platformConnected = new Gauge({
  name: 'zvb_platform_connected',
  help: 'Whether the platform connection (the Lark long connection) is up: 1, or 0 while disconnected.',
  labelNames: ['platform'] as const,
  registers,
});

/** Platform connection clients replaced by the adapter. Labels: platform, reason (`gave_up`, `stalled`). */
export const platformReconnects = new Counter({
  name: 'zvb_platform_reconnects_total',
  help: 'Platform connection clients the adapter replaced: the SDK gave up (gave_up) or stayed disconnected (stalled).',
  labelNames: ['platform', 'reason'] as const,
  registers,
});

/** When the last platform event arrived (Unix seconds). Labels: platform. */
export const platformLastEventSeconds = new Gauge({
  name: 'zvb_platform_last_event_timestamp_seconds',
  help: 'Unix time of the last event received from the platform.',
  labelNames: ['platform'] as const,
  registers,
});

/** Generations running in this worker process now. */
export const workerBusy = new Gauge({
  name: 'zvb_worker_busy',
  help: 'Generations running in this worker process now (busy slots).',
  registers,
});

/** Decode slots of this worker process (its batch size); idle slots = this − zvb_worker_busy. */
export const workerSlots = new Gauge({
  name: 'zvb_worker_slots',
  help: 'Decode slots of this worker process (WORKER_BATCH_SIZE).',
  registers,
});

/** Decode slots holding a sequence now (prefilling or decoding). */
export const schedulerOccupiedSlots = new Gauge({
  name: 'zvb_scheduler_occupied_slots',
  help: 'Decode slots of the batching scheduler holding a sequence now.',
  registers,
});

/** Time of one batched decode step. */
export const schedulerStepSeconds = new Histogram({
  name: 'zvb_scheduler_step_seconds',
  help: 'Time of one decoder step over every decoding sequence.',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2],
  registers,
});

/** Sequences decoded by one step. */
export const schedulerRowsPerStep = new Histogram({
  name: 'zvb_scheduler_rows_per_step',
  help: 'Sequences decoded together by one decoder step.',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers,
});

/** Time a request waited for a free decode slot. */
export const schedulerQueueWaitSeconds = new Histogram({
  name: 'zvb_scheduler_queue_wait_seconds',
  help: 'Time a generation waited in the worker for a free decode slot.',
  buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers,
});

/** Time between two tokens of one sequence. */
export const interTokenSeconds = new Histogram({
  name: 'zvb_inter_token_seconds',
  help: 'Time between two consecutive tokens of one answer.',
  buckets: [0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5],
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
