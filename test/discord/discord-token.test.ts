import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { DiscordTokenError } from '../../adapters/discord/transport.ts';
import { findFreePort } from '../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeDiscord } from '../support/fake-discord/fake-discord.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { answerTo, fakeGuilds, ids, person } from './discord-harness.ts';

const repositoryRoot = resolve(import.meta.dirname, '../..');

function runCli(args: string[], environment: Record<string, string>): { child: ChildProcess; output: () => string } {
  const { DISCORD_TOKEN: _token, MODEL_DIR: _model, REDIS_URL: _redis, ...inherited } = process.env;
  const child = spawn(process.execPath, ['bin/ziya-visual-bot.js', ...args], {
    cwd: repositoryRoot,
    env: { ...inherited, LOG_LEVEL: 'info', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((done) => {
    if (child.exitCode !== null) done(child.exitCode);
    else child.once('exit', (code) => done(code));
  });

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
    const refused = runCli(['adapter', 'discord'], {
      DISCORD_TOKEN: 'not-the-token-SECRET',
      DISCORD_API_URL: discord.apiUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: redis.prefix,
    });
    children.push(refused.child);
    expect(await exited(refused.child)).toBe(1);
    expect(refused.output()).toContain('Discord refused DISCORD_TOKEN');
    expect(refused.output()).not.toContain('not-the-token-SECRET');

    const missing = runCli(['adapter', 'discord'], { REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix });
    children.push(missing.child);
    expect(await exited(missing.child)).toBe(2);
    expect(missing.output()).toContain('DISCORD_TOKEN is unset');
  });

  it('`start` with DISCORD_TOKEN answers a Discord message end to end in one process', async () => {
    const run = runCli(['start'], {
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
    expect(run.output()).not.toContain(discord.token);
    // The shutdown handler is installed once every adapter has had its turn (Lark comes after Discord).
    await discord.waitFor(() => /lark/i.test(run.output()), 30_000, 'start to finish starting');
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill('SIGTERM');
    const code = await exited(run.child);
    expect(code, run.output().slice(-3000)).toBe(0);
  });

  it('`adapter discord` in its own process, with a model worker elsewhere on the same Redis, answers a message', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix, { MAX_NEW_TOKENS: 8 });
    const model = await ZiyaChatModel.load(inject('tinyModelDir'), { executionProvider: 'cpu', threads: 1 });
    const worker = startModelWorker(pipeline, model);
    try {
      const run = runCli(['adapter', 'discord'], {
        DISCORD_TOKEN: discord.token,
        DISCORD_API_URL: discord.apiUrl,
        REDIS_URL: redis.url,
        QUEUE_PREFIX: redis.prefix,
        METRICS_PORT: '0',
      });
      children.push(run.child);
      const identified = discord.identifies.length;
      await discord.waitFor(() => discord.identifies.length > identified, 60_000, 'the adapter to connect');
      await discord.waitFor(() => /listening|METRICS_PORT/.test(run.output()), 30_000, 'the ops server');
      const id = discord.sendMessage({
        channelId: ids.dm,
        author: person('200000000000000011', 'iris'),
        content: 'hi there',
      });
      await discord.waitFor(() => answerTo(discord, ids.dm, id).length > 0, 30_000, 'the answer');
      expect(run.output()).not.toContain(discord.token);
      run.child.kill('SIGTERM');
      expect(await exited(run.child), run.output().slice(-2000)).toBe(0);
    } finally {
      await worker.close();
      await model.close();
      await pipeline.queues.close();
    }
  });
});
