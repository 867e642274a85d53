// `npm run bench:load`: many messages across many channels through the real platform clients against the protocol
// fakes (discord.js ↔ FakeDiscord over the gateway and REST, the Lark SDK's long connection ↔ FakeOpenPlatform), the
// in-process Discord and Lark adapters, a private Redis, and N `ziya-visual-bot worker` processes running the tiny
// model. Prints throughput, time to first token and to the final reply (p50/p95/p99), lost / duplicated /
// out-of-order answers (all must be 0), peak Redis memory and peak worker RSS.
//
//   npm run bench:load -- [--messages 1000] [--channels 100] [--workers 2] [--new-tokens 8] [--rate 0]
//                         [--batch-sizes 1,8] [--model-dir <dir>]
//
// --batch-sizes: the whole run once per WORKER_BATCH_SIZE (decode slots per worker), each on a fresh stack, so
// messages/s at batch size 1 and 8 come from one run.
// --model-dir: the workers' MODEL_DIR instead of the tiny demo model (e.g. `.cache/bench-models/small-seed0-fp32`,
// which `npm run bench:serve` builds: the `small` preset, whose steps cost enough for batching to show).
// --rate: messages per second to send (0 = all at once, a burst). Half the channels are Discord DMs, half Lark p2p
// chats; every channel gets messages in order, zh and en alternating, every fourth one with a picture.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { type ChatChannel, chatChannels } from '../test/support/chat-stack/chat-messages.ts';
import { ChatStack } from '../test/support/chat-stack/chat-stack.ts';
import { solidPng } from '../test/support/test-images.ts';
import { hostAllocatorEnvironment } from '../workers/runtime/host-allocator.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000' },
    channels: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    'new-tokens': { type: 'string', default: '8' },
    rate: { type: 'string', default: '0' },
    'timeout-s': { type: 'string', default: '900' },
    'batch-sizes': { type: 'string', default: '1,8' },
    'model-dir': { type: 'string' },
  },
});
const messageCount = Number(values.messages);
const channelCount = Number(values.channels);
const workerCount = Number(values.workers);
const newTokens = Number(values['new-tokens']);
const rate = Number(values.rate);
const timeoutMs = Number(values['timeout-s']) * 1000;
const batchSizes = values['batch-sizes'].split(',').filter(Boolean).map(Number);
const modelDirectory = values['model-dir'] === undefined ? undefined : resolve(values['model-dir']);
const modelLabel = modelDirectory === undefined ? 'tiny model' : `model ${basename(modelDirectory)}`;
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

/** One whole run at `batchSize` decode slots per worker; returns messages/s and whether every answer was right. */
async function run(batchSize: number): Promise<{ messagesPerSecond: number; clean: boolean }> {
  const stack = await ChatStack.start({
    workers: workerCount,
    logger,
    settings: { MAX_NEW_TOKENS: newTokens, WORKER_BATCH_SIZE: batchSize },
    onModelLog: (line) => console.error(line),
    // Workers start as `npm start` and the worker image start them: with the allocator settings, each as this
    // process's environment sets it, else its default (the workers inherit nothing else).
    workerEnvironment: {
      ...Object.fromEntries(
        Object.entries(hostAllocatorEnvironment).map(([name, value]) => [name, process.env[name] ?? value]),
      ),
      ...(modelDirectory === undefined ? {} : { MODEL_DIR: modelDirectory }),
    },
  });
  const { redis, tracker } = stack;

  const pictures = [await solidPng(200, 40, 40), await solidPng(30, 160, 220), await solidPng(240, 220, 30)];
  const channels = chatChannels(channelCount);
  const discordChannels = channels.filter((channel) => channel.platform === 'discord').length;
  const redisPeak = { bytes: 0 };
  const rssPeak = new Map<number, number>();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const info = await redis.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
      redisPeak.bytes = Math.max(redisPeak.bytes, used);
      for (const worker of stack.workers.all) {
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
    const question = questions[language][round % 3] ?? '';
    const picture = index % 4 === 0 ? (pictures[index % pictures.length] as Buffer) : undefined;
    stack.send(channels[channelIndex] as ChatChannel, {
      text: question,
      ...(picture === undefined ? {} : { picture }),
    });
    if (rate > 0) await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
    else if (index % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }

  await stack.waitForAnswers(timeoutMs);
  const elapsedS = (performance.now() - started) / 1000;
  // Let late duplicates, if any, show up.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  sampling = false;
  await sampler;

  // Platform-side truth: how many final answers each message got, and in which order each channel got them.
  const { lost, duplicated, outOfOrder, details } = await stack.verify();
  for (const line of details) if (line.startsWith('out of order')) console.log(`  ${line}`);
  const ttft = stack.sent.flatMap((entry) => {
    const at = tracker.firstToken.get(entry.requestId);
    return at === undefined ? [] : [at - entry.at];
  });
  const final = stack.sent.flatMap((entry) => {
    const at = tracker.delivered.get(entry.requestId);
    return at === undefined ? [] : [at - entry.at];
  });
  const channelsUsed = new Set(stack.sent.map((entry) => entry.channel.channelKey)).size;

  console.log(
    `bench:load — ${stack.sent.length} messages, ${channelsUsed} channels (${discordChannels} Discord, ${channelsUsed - discordChannels} Lark), ` +
      `${workerCount} worker processes × WORKER_BATCH_SIZE ${batchSize}, ${modelLabel}, MAX_NEW_TOKENS ${newTokens}, ${rate > 0 ? `${rate} msg/s` : 'burst'}`,
  );
  console.log(
    `  throughput:            ${(tracker.delivered.size / elapsedS).toFixed(1)} messages/s (${elapsedS.toFixed(1)} s)`,
  );
  console.log(`  time to first token:   ${summary(ttft)} (${ttft.length} streamed)`);
  console.log(`  time to final reply:   ${summary(final)}`);
  console.log(`  lost: ${lost}, duplicated: ${duplicated}, out of order: ${outOfOrder}`);
  console.log(`  peak Redis memory:     ${mib(redisPeak.bytes)}`);
  console.log(`  peak worker RSS:       ${[...rssPeak.values()].map(mib).join(', ')}`);

  await stack.close();
  return { messagesPerSecond: tracker.delivered.size / elapsedS, clean: lost + duplicated + outOfOrder === 0 };
}

const results: { batchSize: number; messagesPerSecond: number; clean: boolean }[] = [];
for (const batchSize of batchSizes) results.push({ batchSize, ...(await run(batchSize)) });
if (results.length > 1) {
  const base = results[0]!;
  console.log(
    `messages/s by WORKER_BATCH_SIZE: ${results
      .map(
        (result) =>
          `${result.batchSize}: ${result.messagesPerSecond.toFixed(1)} (${(result.messagesPerSecond / base.messagesPerSecond).toFixed(2)}×)`,
      )
      .join(', ')}`,
  );
}
process.exitCode = results.every((result) => result.clean) ? 0 : 1;
process.exit();
