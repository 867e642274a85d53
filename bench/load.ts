// `npm run bench:load`: many messages across many channels through the real platform clients against the protocol
// fakes (discord.js ↔ FakeDiscord over the gateway and REST, the Lark SDK's long connection ↔ FakeOpenPlatform), the
// in-process Discord and Lark adapters, a private Redis, and N `ziya-visual-bot worker` processes running the tiny
// model. Prints throughput, time to first token and to the final reply (p50/p95/p99), lost / duplicated /
// out-of-order answers (all must be 0), peak Redis memory and peak worker RSS.
//
//   npm run bench:load -- [--messages 1000] [--channels 100] [--workers 2] [--new-tokens 8] [--rate 0]
//
// --rate: messages per second to send (0 = all at once, a burst). Half the channels are Discord DMs, half Lark p2p
// chats; every channel gets messages in order, zh and en alternating, every fourth one with a picture.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { QueueEvents } from 'bullmq';
import pino from 'pino';
import { startDiscordAdapter } from '../adapters/discord/discord-adapter.ts';
import { startLarkAdapter } from '../adapters/lark/lark-adapter.ts';
import { createPipelineContext } from '../src/pipeline/pipeline-context.ts';
import { repliesQueueName, requestsQueueName } from '../src/queue/queue-names.ts';
import { startPrivateRedisServer } from '../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../src/redis/redis-connection.ts';
import { FakeDiscord, type FakeUser } from '../test/support/fake-discord/fake-discord.ts';
import { FakeOpenPlatform } from '../test/support/fake-lark/fake-open-platform.ts';
import { messageEvent, newMessageId } from '../test/support/fake-lark/lark-events.ts';
import { solidPng } from '../test/support/test-images.ts';
import { ensureDemoModel } from '../workers/chat/model-directory-cache.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000' },
    channels: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    'new-tokens': { type: 'string', default: '8' },
    rate: { type: 'string', default: '0' },
    'timeout-s': { type: 'string', default: '900' },
  },
});
const messageCount = Number(values.messages);
const channelCount = Number(values.channels);
const workerCount = Number(values.workers);
const newTokens = Number(values['new-tokens']);
const rate = Number(values.rate);
const timeoutMs = Number(values['timeout-s']) * 1000;
const repositoryRoot = resolve(import.meta.dirname, '..');
const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'error' });

const questions = {
  en: ['What is in this picture?', 'Describe a quiet morning in one sentence.', 'What colour is it?'],
  zh: ['这张图片里有什么？', '请用一句话描述一个安静的早晨。', '它是什么颜色的？'],
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(0)} ms, p95 ${percentile(sorted, 95).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms`;
};
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const modelDir = await ensureDemoModel((line) => console.error(line));
  const redisServer = await startPrivateRedisServer();
  const prefix = `{zvb-load-${randomBytes(3).toString('hex')}}`;
  const redis = createRedisConnection(redisServer.url);
  const pipeline = createPipelineContext(
    redis,
    {
      QUEUE_PREFIX: prefix,
      CONTEXT_TTL_SECONDS: 3600,
      CONTEXT_MAX_TURNS: 20,
      CONTEXT_MAX_TOKENS: 1024,
      IMAGE_MAX_BYTES: 2 * 1024 * 1024,
      IMAGE_MAX_PIXELS: 40_000_000,
      IMAGE_TTL_SECONDS: 3600,
      TEXT_MAX_CHARACTERS: 4000,
      MAX_NEW_TOKENS: newTokens,
      GENERATION_TIMEOUT_MS: 120_000,
      WORKER_CONCURRENCY: 1,
      JOB_LOCK_MS: 30_000,
      DEDUPLICATION_TTL_SECONDS: 28_800,
      PROGRESS_INTERVAL_MS: 300,
      // A load test from 100 senders: the limits would (rightly) refuse some; they are measured by their own tests.
      RATE_LIMIT_USER_PER_MINUTE: 0,
      RATE_LIMIT_CHANNEL_PER_MINUTE: 0,
    },
    logger,
  );

  const discord = new FakeDiscord({ guilds: [] });
  await discord.listen();
  const larkAppId = 'cli_0123456789abcdef';
  const lark = new FakeOpenPlatform({ appId: larkAppId, appSecret: 'load-secret', botOpenId: 'ou_loadbot' });
  await lark.start();

  const workers: ChildProcess[] = [];
  for (let index = 0; index < workerCount; index += 1) {
    const child = spawn(process.execPath, ['bin/ziya-visual-bot.js', 'worker'], {
      cwd: repositoryRoot,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        REDIS_URL: redisServer.url,
        QUEUE_PREFIX: prefix,
        MODEL_DIR: modelDir,
        MODEL_THREADS: '1',
        MAX_NEW_TOKENS: String(newTokens),
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    workers.push(child);
  }
  // Never leave worker processes behind, whatever happens below.
  process.once('exit', () => {
    for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
  });

  const discordAdapter = await startDiscordAdapter(pipeline, {
    token: discord.token,
    apiUrl: discord.apiUrl,
    eventsConnection: createRedisConnection(redisServer.url),
    tuning: { imageQuestionWindowMs: 0 },
  });
  const larkAdapter = await startLarkAdapter(pipeline, {
    settings: { appId: larkAppId, appSecret: 'load-secret', domain: lark.url, imageWaitMs: 0, apiRetryDelayMs: 50 },
    eventsConnection: createRedisConnection(redisServer.url),
  });
  await lark.waitFor(() => lark.connections > 0, 60_000, 'the Lark long connection');

  // What the adapters see: the first streamed text of a request, and its final reply handed to the platform.
  const firstToken = new Map<string, number>();
  const delivered = new Map<string, number>();
  const deliveries = new Map<string, number>();
  const progressEvents = new QueueEvents(requestsQueueName, {
    connection: createRedisConnection(redisServer.url),
    prefix,
  });
  progressEvents.on('progress', ({ data }) => {
    const requestId = (data as { requestId?: string }).requestId;
    if (requestId !== undefined && !firstToken.has(requestId)) firstToken.set(requestId, performance.now());
  });
  const replyEvents = (['discord', 'lark'] as const).map((platform) => {
    const events = new QueueEvents(repliesQueueName(platform), {
      connection: createRedisConnection(redisServer.url),
      prefix,
    });
    events.on('completed', ({ jobId }) => {
      const requestId = jobId.replace(/^reply-/, '');
      deliveries.set(requestId, (deliveries.get(requestId) ?? 0) + 1);
      if (!delivered.has(requestId)) delivered.set(requestId, performance.now());
    });
    return events;
  });
  await Promise.all([progressEvents, ...replyEvents].map((events) => events.waitUntilReady()));

  // Wait for every worker to have loaded its model (each registers as a BullMQ worker on the requests queue).
  const deadline = Date.now() + 120_000;
  while ((await pipeline.queues.requests.getWorkersCount()) < workerCount) {
    if (Date.now() > deadline) throw new Error('the worker processes did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const pictures = [await solidPng(200, 40, 40), await solidPng(30, 160, 220), await solidPng(240, 220, 30)];
  const discordChannels = Math.ceil(channelCount / 2);
  interface Sent {
    requestId: string;
    platform: 'discord' | 'lark';
    channel: string;
    messageId: string;
    at: number;
  }
  const sent: Sent[] = [];
  const redisPeak = { bytes: 0 };
  const rssPeak = new Map<number, number>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const info = await redis.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
      redisPeak.bytes = Math.max(redisPeak.bytes, used);
      for (const worker of workers) {
        if (worker.pid !== undefined)
          rssPeak.set(worker.pid, Math.max(rssPeak.get(worker.pid) ?? 0, rssOf(worker.pid)));
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();

  const started = performance.now();
  for (let index = 0; index < messageCount; index += 1) {
    const channelIndex = index % channelCount;
    const round = Math.floor(index / channelCount);
    const language = (channelIndex + round) % 2 === 0 ? 'en' : 'zh';
    const withImage = index % 4 === 0;
    const question = questions[language][round % 3] ?? '';
    const picture = pictures[index % pictures.length] as Buffer;
    if (channelIndex < discordChannels) {
      const channel = String(300000000000000000n + BigInt(channelIndex));
      const author: FakeUser = {
        id: String(400000000000000000n + BigInt(channelIndex)),
        username: `user${channelIndex}`,
      };
      const name = `load-${index}.png`;
      const id = discord.sendMessage({
        channelId: channel,
        author,
        content: question,
        ...(withImage
          ? {
              attachments: [
                {
                  url: discord.serveFile(name, picture),
                  filename: name,
                  contentType: 'image/png',
                  size: picture.length,
                },
              ],
            }
          : {}),
      });
      sent.push({ requestId: `discord-${id}`, platform: 'discord', channel, messageId: id, at: performance.now() });
    } else {
      const chatId = `oc_load_${channelIndex}`;
      const messageId = newMessageId();
      const fileKey = `img_load_${index}`;
      if (withImage) lark.addResource(messageId, fileKey, picture);
      const event = messageEvent({
        messageId,
        chatId,
        chatType: 'p2p',
        sender: { openId: `ou_load_${channelIndex}`, name: `user${channelIndex}` },
        messageType: withImage ? 'post' : 'text',
        content: withImage
          ? {
              zh_cn: {
                title: '',
                content: [
                  [
                    { tag: 'text', text: question },
                    { tag: 'img', image_key: fileKey },
                  ],
                ],
              },
            }
          : { text: question },
      });
      lark.pushEvent(event);
      sent.push({
        requestId: `lark-${messageId}`,
        platform: 'lark',
        channel: chatId,
        messageId,
        at: performance.now(),
      });
    }
    if (rate > 0) await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
    else if (index % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }

  const finishBy = Date.now() + timeoutMs;
  while (delivered.size < sent.length && Date.now() < finishBy) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const elapsedS = (performance.now() - started) / 1000;
  // Let late duplicates, if any, show up.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  sampling = false;
  await sampler;

  // Platform-side truth: how many final answers each message got, and in which order each channel got them.
  const answersOf = (entry: Sent): string[] =>
    entry.platform === 'discord'
      ? discord
          .postedIn(entry.channel)
          .filter(
            (message) =>
              (message.body['message_reference'] as { message_id?: string } | undefined)?.message_id ===
              entry.messageId,
          )
          .map((message) => message.id)
      : lark.repliesTo(entry.messageId).map((message) => message.messageId);
  let lost = 0;
  let duplicated = 0;
  for (const entry of sent) {
    const answers = answersOf(entry).length;
    if (answers === 0 || !delivered.has(entry.requestId)) lost += 1;
    if (answers > 1 || (deliveries.get(entry.requestId) ?? 0) > 1) duplicated += 1;
  }
  let outOfOrder = 0;
  const byChannel = new Map<string, Sent[]>();
  for (const entry of sent) byChannel.set(entry.channel, [...(byChannel.get(entry.channel) ?? []), entry]);
  for (const [channel, entries] of byChannel) {
    const position = new Map(entries.map((entry, index) => [entry.messageId, index]));
    const answered =
      entries[0]?.platform === 'discord'
        ? discord
            .postedIn(channel)
            .map(
              (message) => (message.body['message_reference'] as { message_id?: string } | undefined)?.message_id ?? '',
            )
        : lark.sent.filter((message) => message.chatId === channel).map((message) => message.replyTo ?? '');
    let last = -1;
    for (const messageId of answered) {
      const index = position.get(messageId);
      if (index === undefined) continue;
      if (index < last) {
        outOfOrder += 1;
        console.log(`  out of order in ${entries[0]?.platform} ${channel}: message #${index} answered after #${last}`);
      }
      last = Math.max(last, index);
    }
  }
  const ttft = sent.flatMap((entry) => {
    const at = firstToken.get(entry.requestId);
    return at === undefined ? [] : [at - entry.at];
  });
  const final = sent.flatMap((entry) => {
    const at = delivered.get(entry.requestId);
    return at === undefined ? [] : [at - entry.at];
  });

  console.log(
    `bench:load — ${sent.length} messages, ${byChannel.size} channels (${discordChannels} Discord, ${byChannel.size - discordChannels} Lark), ` +
      `${workerCount} worker processes, tiny model, MAX_NEW_TOKENS ${newTokens}, ${rate > 0 ? `${rate} msg/s` : 'burst'}`,
  );
  console.log(
    `  throughput:            ${(delivered.size / elapsedS).toFixed(1)} messages/s (${elapsedS.toFixed(1)} s)`,
  );
  console.log(`  time to first token:   ${summary(ttft)} (${ttft.length} streamed)`);
  console.log(`  time to final reply:   ${summary(final)}`);
  console.log(`  lost: ${lost}, duplicated: ${duplicated}, out of order: ${outOfOrder}`);
  console.log(`  peak Redis memory:     ${mib(redisPeak.bytes)}`);
  console.log(`  peak worker RSS:       ${[...rssPeak.values()].map(mib).join(', ')}`);

  process.exitCode = lost + duplicated + outOfOrder === 0 ? 0 : 1;
  // Clean up, but never hang the command on it (a client still reconnecting would keep the process alive).
  const cleanup = async () => {
    for (const worker of workers) worker.kill('SIGTERM');
    await Promise.all(
      workers.map(
        (worker) => new Promise((resolve) => (worker.exitCode !== null ? resolve(null) : worker.once('exit', resolve))),
      ),
    );
    await Promise.all([progressEvents, ...replyEvents].map((events) => events.close()));
    await discordAdapter.close();
    await larkAdapter.close();
    await pipeline.queues.close();
    await discord.close();
    await lark.close();
    await redis.quit();
    await redisServer.stop();
  };
  await Promise.race([cleanup(), new Promise((resolve) => setTimeout(resolve, 20_000))]);
}

await main();
process.exit();
