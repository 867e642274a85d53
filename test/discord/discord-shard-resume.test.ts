import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordAdapter, startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { startModelWorker } from '../../workers/model-worker.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { FakeDiscord, type FakeGuild } from '../support/fake-discord/fake-discord.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { answerTo, person } from './discord-harness.ts';

// Guild ids whose shard ((id >> 22) % 2) is 0 and 1.
const guilds: FakeGuild[] = [0, 1].map((shard) => {
  const id = String(((1000n + BigInt(shard)) << 22n) + 7n);
  return {
    id,
    name: `guild on shard ${shard}`,
    preferredLocale: 'en-US',
    channels: [{ id: String(BigInt(id) + 1n), name: 'general', type: 0 as const }],
  };
});
const erin = person('200000000000000005', 'erin');

// DISCORD_SHARDS=2 against a fake gateway that routes each guild's events to its shard's session: each shard's
// session is stored on its own, and the next process resumes both (the queue mechanics only: a fake model answers).
describe('Discord adapter: two shards, each session resumed', () => {
  const redis = useTestRedis();
  let discord: FakeDiscord;
  let pipeline: PipelineContext;
  let worker: ReturnType<typeof startModelWorker>;
  const adapters: DiscordAdapter[] = [];
  const start = async () => {
    const adapter = await startDiscordAdapter(pipeline, {
      token: discord.token,
      apiUrl: discord.apiUrl,
      eventsConnection: createRedisConnection(redis.url),
      shards: 2,
    });
    adapters.push(adapter);
    return adapter;
  };
  const ask = (guild: FakeGuild, content: string) => {
    const channelId = guild.channels[0]?.id ?? '';
    const id = discord.sendMessage({
      channelId,
      guildId: guild.id,
      author: erin,
      content: `<@${discord.botUser.id}> ${content}`,
      mentions: [discord.botUser],
    });
    return { channelId, id };
  };
  const answered = ({ channelId, id }: { channelId: string; id: string }) =>
    discord.waitFor(() => answerTo(discord, channelId, id).length > 0, 30_000, `the answer to ${id}`);

  beforeAll(async () => {
    discord = new FakeDiscord({ guilds });
    await discord.listen();
    pipeline = testPipeline(redis.connection, redis.prefix);
    worker = startModelWorker(pipeline, new FakeChatModel({ stepMs: 5 }), { concurrency: 2 });
  });
  afterAll(async () => {
    for (const adapter of adapters) await adapter.close();
    await worker?.close();
    await pipeline?.queues.close();
    await discord?.close();
  });

  it('identifies both shards, stores both sessions, and a new process resumes both', async () => {
    const first = await start();
    expect(discord.identifies.map((identify) => (identify as { shard?: number[] }).shard)).toEqual([
      [0, 2],
      [1, 2],
    ]);
    for (const guild of guilds) await answered(ask(guild, 'hello'));
    const key = `${redis.prefix}:discord-sessions`;
    expect(Object.keys(await redis.connection.hgetall(key)).sort()).toEqual(['0', '1']);
    await first.close();
    const whileDown = guilds.map((guild) => ask(guild, 'asked while no adapter ran'));
    const resumesBefore = discord.resumes.length;
    await start();
    for (const message of whileDown) await answered(message);
    expect(discord.resumes.length - resumesBefore).toBe(2);
    expect(discord.invalidSessions).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const message of whileDown) expect(answerTo(discord, message.channelId, message.id)).toHaveLength(1);
  });
});
