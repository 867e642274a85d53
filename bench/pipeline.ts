// `npm run bench:pipeline`: what the queue path (receive → ingest → requests → model → replies → delivery) adds over
// calling the model in-process, at 1 and at 50 concurrent channels, and jobs/s. Real Redis, real BullMQ.
// Added latency of a request = its end-to-end time − the model's own time for that request (measured inside the
// model call), so time spent generating (or waiting for a busy CPU inside the model) is not counted as queue cost.
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { Worker } from 'bullmq';
import pino from 'pino';
import type { ChatModel, ChatModelRequest, ChatModelResult } from '../src/model/chat-model.ts';
import { startDeliveryWorker } from '../src/pipeline/delivery-worker.ts';
import { startIngestWorker } from '../src/pipeline/ingest-worker.ts';
import { createPipelineContext, type PipelineContext } from '../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../src/pipeline/receive-message.ts';
import { startPrivateRedisServer } from '../src/redis/private-redis-server.ts';
import { createRedisConnection, redisAnswers } from '../src/redis/redis-connection.ts';
import { ensureDemoModel } from '../workers/chat/model-directory-cache.ts';
import { ZiyaChatModel } from '../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../workers/model-worker.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    'new-tokens': { type: 'string', default: '8' },
    threads: { type: 'string', default: '1' },
  },
});
const rounds = Number(values.rounds);
const newTokens = Number(values['new-tokens']);
const logger = pino({ level: 'error' });

/** Records the model's own time per request (the part that is not the queue's). */
class TimedModel implements ChatModel {
  readonly modelTimeMs = new Map<string, number>();
  constructor(private readonly inner: ChatModel) {}
  get modelId() {
    return this.inner.modelId;
  }
  get demo() {
    return this.inner.demo;
  }
  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    const start = performance.now();
    const result = await this.inner.answer(request);
    this.modelTimeMs.set(request.requestId, performance.now() - start);
    return result;
  }
  async close() {
    await this.inner.close();
  }
}

/** A model that answers at once: isolates the queue path's own cost and its jobs/s ceiling. */
class InstantModel implements ChatModel {
  readonly modelId = 'instant';
  readonly demo = true;
  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    request.onText?.('ok');
    return {
      text: 'ok',
      finishReason: 'stop',
      prompt: request.question,
      promptTokens: 1,
      generatedTokens: 1,
      usedCachedEmbedding: false,
      timings: { visionMs: 0, firstTokenMs: 0, totalMs: 0 },
    };
  }
  async close() {}
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Row {
  model: string;
  channels: number;
  requests: number;
  addedP50: number;
  addedP99: number;
  endToEndP50: number;
  modelP50: number;
  jobsPerSecond: number;
  /** CPU time of this (single) process per request: receive, drain, model, delivery together. */
  cpuMsPerRequest: number;
}

async function measure(redisUrl: string, inner: ChatModel, channels: number): Promise<Row> {
  const prefix = `{zvb-bench-${randomBytes(3).toString('hex')}}`;
  const redis = createRedisConnection(redisUrl);
  const pipeline: PipelineContext = createPipelineContext(
    redis,
    {
      QUEUE_PREFIX: prefix,
      CONTEXT_TTL_SECONDS: 600,
      CONTEXT_MAX_TURNS: 20,
      CONTEXT_MAX_TOKENS: 1024,
      IMAGE_MAX_BYTES: 20 * 1024 * 1024,
      IMAGE_MAX_PIXELS: 40_000_000,
      IMAGE_TTL_SECONDS: 600,
      TEXT_MAX_CHARACTERS: 4000,
      MAX_NEW_TOKENS: newTokens,
      GENERATION_TIMEOUT_MS: 120_000,
      WORKER_BATCH_SIZE: channels,
      JOB_LOCK_MS: 30_000,
      DEDUPLICATION_TTL_SECONDS: 28_800,
      PROGRESS_INTERVAL_MS: 300,
      RATE_LIMIT_USER_PER_MINUTE: 0,
      RATE_LIMIT_CHANNEL_PER_MINUTE: 0,
    },
    logger,
  );
  const model = new TimedModel(inner);
  const sentAt = new Map<string, number>();
  const endToEnd = new Map<string, number>();
  let wake: () => void = () => {};
  const workers: Worker[] = [
    startIngestWorker(pipeline, 'web', {}, { concurrency: channels }),
    startModelWorker(pipeline, model, { concurrency: channels }),
    startDeliveryWorker(
      pipeline,
      'web',
      async (reply) => {
        endToEnd.set(reply.requestId, performance.now() - (sentAt.get(reply.requestId) ?? Number.NaN));
        wake();
      },
      { concurrency: channels },
    ),
  ];
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  const send = async (channel: number, round: number) => {
    const requestId = `web-b${channel}.r${round}`;
    sentAt.set(requestId, performance.now());
    await receiveMessage(pipeline, {
      platform: 'web',
      platformMessageId: `b${channel}.r${round}`,
      channelKey: `web:b${channel}`,
      replyTarget: { channel: `b${channel}` },
      user: { id: 'bench', name: 'bench' },
      text: 'Please describe a quiet morning in a small town.',
      attachments: [],
      adapterInstance: 'bench',
    });
  };
  // One warm-up round, not counted.
  await Promise.all(Array.from({ length: channels }, (_, channel) => send(channel, -1)));
  while (endToEnd.size < channels) await new Promise<void>((resolve) => (wake = resolve));
  endToEnd.clear();
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let round = 0; round < rounds; round += 1) {
    const target = (round + 1) * channels;
    await Promise.all(Array.from({ length: channels }, (_, channel) => send(channel, round)));
    while (endToEnd.size < target) await new Promise<void>((resolve) => (wake = resolve));
  }
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const added: number[] = [];
  const totals: number[] = [];
  const modelTimes: number[] = [];
  for (const [requestId, total] of endToEnd) {
    const modelTime = model.modelTimeMs.get(requestId) ?? 0;
    added.push(total - modelTime);
    totals.push(total);
    modelTimes.push(modelTime);
  }
  for (const list of [added, totals, modelTimes]) list.sort((a, b) => a - b);
  await Promise.all(workers.map((worker) => worker.close()));
  await pipeline.queues.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  return {
    model: inner.modelId,
    channels,
    requests: endToEnd.size,
    addedP50: percentile(added, 50),
    addedP99: percentile(added, 99),
    endToEndP50: percentile(totals, 50),
    modelP50: percentile(modelTimes, 50),
    jobsPerSecond: endToEnd.size / seconds,
    cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / endToEnd.size,
  };
}

async function redisUrl(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env['REDIS_URL']) return { url: process.env['REDIS_URL'], stop: async () => {} };
  const local = 'redis://127.0.0.1:6379';
  if (await redisAnswers(local)) return { url: local, stop: async () => {} };
  const server = await startPrivateRedisServer();
  return { url: server.url, stop: () => server.stop() };
}

const redis = await redisUrl();
const modelDirectory = values.model ?? (await ensureDemoModel((line) => logger.info(line)));
const tiny = await ZiyaChatModel.load(modelDirectory, { executionProvider: 'cpu', threads: Number(values.threads) });
// In-process baseline: the same question straight to the model.
const direct: number[] = [];
for (let index = 0; index < 10; index += 1) {
  const start = performance.now();
  await tiny.answer({
    requestId: `web-direct.${index}`,
    history: [],
    question: 'Please describe a quiet morning in a small town.',
    language: 'en',
    instruction: 'Please answer in English.',
    generation: { maxNewTokens: newTokens },
  });
  direct.push(performance.now() - start);
}
direct.sort((a, b) => a - b);
const rows: Row[] = [];
for (const model of [new InstantModel(), tiny]) {
  for (const channels of [1, 50]) rows.push(await measure(redis.url, model, channels));
}
await tiny.close();
await redis.stop();

const format = (value: number) => value.toFixed(1).padStart(8);
console.log(
  `pipeline bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadavg()[0]?.toFixed(1)}, node ${process.version}, ` +
    `${rounds} rounds, ${newTokens} new tokens, model ${modelDirectory}`,
);
console.log(`in-process model call (tiny), p50 ${direct[5]?.toFixed(1)} ms over 10 calls`);
console.log('model                 channels requests  added p50  added p99  e2e p50  model p50   jobs/s  cpu ms/req');
for (const row of rows) {
  console.log(
    `${row.model.padEnd(22)}${String(row.channels).padStart(8)}${String(row.requests).padStart(9)}` +
      `${format(row.addedP50)}ms${format(row.addedP99)}ms${format(row.endToEndP50)}${format(row.modelP50)}${format(row.jobsPerSecond)}` +
      `${format(row.cpuMsPerRequest)}`,
  );
}
process.exit(0);
