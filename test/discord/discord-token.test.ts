import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { DiscordTokenError } from '../../adapters/discord/transport.ts';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { CliProcess } from '../support/cli-process.ts';
import { FakeDiscord } from '../support/fake-discord/fake-discord.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { answerTo, fakeGuilds, ids, person } from './discord-harness.ts';

describe('Discord adapter: tokens and the commands that start it', () => {
  const redis = useTestRedis();
  let discord: FakeDiscord;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    discord = new FakeDiscord({ guilds: fakeGuilds() });
    await discord.listen();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await discord?.close();
  });

  it('a token the API refuses (401) or the gateway closes with 4004 is a DiscordTokenError that never shows the token', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix);
    const wrong = 'wrong-token-SECRET-123';
    const refused = startDiscordAdapter(pipeline, {
      token: wrong,
      apiUrl: discord.apiUrl,
      eventsConnection: createRedisConnection(redis.url),
    });
    const error401 = await refused.catch((error: unknown) => error);
    expect(error401).toBeInstanceOf(DiscordTokenError);
    expect(String((error401 as Error).message)).not.toContain(wrong);

    discord.gatewayRejectsToken = true;
    try {
      const error4004 = await startDiscordAdapter(pipeline, {
        token: discord.token,
        apiUrl: discord.apiUrl,
        eventsConnection: createRedisConnection(redis.url),
      }).catch((error: unknown) => error);
      expect(error4004).toBeInstanceOf(DiscordTokenError);
      expect((error4004 as Error).message).toContain('4004');
      expect((error4004 as Error).message).not.toContain(discord.token);
    } finally {
      discord.gatewayRejectsToken = false;
    }
    await pipeline.queues.close();
  });

  it('`adapter discord` with a refused token or no token says so clearly and exits non-zero', async () => {
    const refused = new CliProcess(['adapter', 'discord'], {
      LOG_LEVEL: 'info',
      DISCORD_TOKEN: 'not-the-token-SECRET',
      DISCORD_API_URL: discord.apiUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
    });
    children.push(refused.child);
    expect(await refused.exited).toBe(1);
    expect(refused.text()).toContain('Discord refused DISCORD_TOKEN');
    expect(refused.text()).not.toContain('not-the-token-SECRET');

    const missing = new CliProcess(['adapter', 'discord'], {
      LOG_LEVEL: 'info',
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
    });
    children.push(missing.child);
    expect(await missing.exited).toBe(2);
    expect(missing.text()).toContain('DISCORD_TOKEN is unset');
  });

  it('`start` with DISCORD_TOKEN answers a Discord message end to end in one process', async () => {
    const run = new CliProcess(['start'], {
      LOG_LEVEL: 'info',
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: discord.apiUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
      MODEL_DIR: inject('tinyModelDir'),
      MAX_NEW_TOKENS: '8',
      WEB_PORT: String(await findFreePort()),
    });
    children.push(run.child);
    await discord.waitFor(
      () => discord.identifies.length > 0 && discord.commands.length > 0,
      60_000,
      'start to connect',
    );
    const id = discord.sendMessage({
      channelId: ids.dm,
      author: person('200000000000000010', 'henry'),
      content: 'hello from discord',
    });
    await discord.waitFor(() => answerTo(discord, ids.dm, id).length > 0, 30_000, 'the answer from `start`');
    expect(run.text()).not.toContain(discord.token);
    // The shutdown handler is installed once every adapter has had its turn (Lark comes after Discord).
    await discord.waitFor(() => /lark/i.test(run.text()), 30_000, 'start to finish starting');
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill('SIGTERM');
    const code = await run.exited;
    expect(code, run.text().slice(-3000)).toBe(0);
  });

  it('`adapter discord` in its own process, with a model worker elsewhere on the same Redis, answers a message', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix, { MAX_NEW_TOKENS: 8 });
    const model = await ZiyaChatModel.load(inject('tinyModelDir'), { executionProvider: 'cpu', threads: 1 });
    const worker = startModelWorker(pipeline, model);
    try {
      const run = new CliProcess(['adapter', 'discord'], {
        LOG_LEVEL: 'info',
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        REDIS_URL: redis.url,
        QUEUE_PREFIX: redis.prefix,
        METRICS_PORT: '0',
      });
      children.push(run.child);
      const identified = discord.identifies.length;
      await discord.waitFor(() => discord.identifies.length > identified, 60_000, 'the adapter to connect');
      await discord.waitFor(() => /listening|METRICS_PORT/.test(run.text()), 30_000, 'the ops server');
      const id = discord.sendMessage({
        channelId: ids.dm,
        author: person('200000000000000011', 'iris'),
        content: 'hi there',
      });
      await discord.waitFor(() => answerTo(discord, ids.dm, id).length > 0, 30_000, 'the answer');
      expect(run.text()).not.toContain(discord.token);
      run.child.kill('SIGTERM');
      expect(await run.exited, run.text().slice(-2000)).toBe(0);
    } finally {
      await worker.close();
      await model.close();
      await pipeline.queues.close();
    }
  });
});
