import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordAdapter, startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { useTestRedis } from '../support/redis.ts';
import { answerTo, type DiscordRig, ids, person, startRig } from './discord-harness.ts';

const dora = person('200000000000000004', 'dora');

/** The sessions hash the adapters keep (shard id → session). */
async function storedSessionIds(rig: DiscordRig): Promise<string[]> {
  const fields = await rig.pipeline.redis.hgetall(`${rig.pipeline.settings.QUEUE_PREFIX}:discord-sessions`);
  return Object.values(fields).map((text) => (JSON.parse(text) as { sessionId: string }).sessionId);
}

// The real discord.js client against the fake gateway, which keeps a session's events while no connection holds it,
// replays them on RESUME, and answers INVALID_SESSION for a session too old to resume.
describe('Discord adapter: the gateway session outlives its process', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  const adapters: DiscordAdapter[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });

  const startAnother = async () => {
    const adapter = await startDiscordAdapter(
      { ...rig.pipeline, logger },
      { token: rig.discord.token, apiUrl: rig.discord.apiUrl, eventsConnection: createRedisConnection(redis.url) },
    );
    adapters.push(adapter);
    return adapter;
  };
  const ask = (content: string) =>
    rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: dora,
      content: `<@${rig.discord.botUser.id}> ${content}`,
      mentions: [rig.discord.botUser],
    });
  const answered = (messageId: string) =>
    rig.discord.waitFor(
      () => answerTo(rig.discord, ids.general, messageId).length > 0,
      30_000,
      `the answer to ${messageId}`,
    );

  beforeAll(async () => {
    rig = await startRig(redis);
  });
  afterAll(async () => {
    for (const adapter of adapters) await adapter.close();
    await rig?.close();
  });

  it('stores the session, and the next process resumes it: messages sent while none ran are answered once', async () => {
    await answered(ask('first question'));
    const [before] = await storedSessionIds(rig);
    expect(before).toBeDefined();
    // A rolling replace: the old process stops (closing with a resumable code), messages arrive, a new one starts.
    await rig.adapter.close();
    const whileDown = [ask('asked while no adapter ran'), ask('and a second one')];
    const resumesBefore = rig.discord.resumes.length;
    await startAnother();
    for (const messageId of whileDown) await answered(messageId);
    expect(rig.discord.resumes.slice(resumesBefore)).toEqual([{ session_id: before, seq: expect.any(Number) }]);
    expect(logs.find((line) => String(line['msg']).includes('resumed the previous gateway session'))).toMatchObject({
      shardId: 0,
      replayed: expect.any(Number),
    });
    // The new process keeps its own session now.
    const after = await storedSessionIds(rig);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const messageId of whileDown) expect(answerTo(rig.discord, ids.general, messageId)).toHaveLength(1);
  });

  it('logs a fresh IDENTIFY after a session too old to resume as a possible gap, with its length', async () => {
    const [running] = adapters;
    await running?.close();
    rig.discord.resumeWindowMs = 300;
    const lost = ask('asked long before any adapter came back');
    await new Promise((resolve) => setTimeout(resolve, 700));
    const invalidBefore = rig.discord.invalidSessions;
    await startAnother();
    expect(rig.discord.invalidSessions).toBe(invalidBefore + 1);
    const gap = logs.find((line) => String(line['msg']).includes('could not be resumed'));
    expect(gap).toMatchObject({ level: 40, shardId: 0, reason: 'Discord answered INVALID_SESSION' });
    expect(Number(gap?.['gapMs'])).toBeGreaterThanOrEqual(600);
    // The new session works; what Discord dropped with the old one is the gap the warning names.
    await answered(ask('a question to the new session'));
    expect(answerTo(rig.discord, ids.general, lost)).toHaveLength(0);
  });

  it('logs a running client that has to IDENTIFY again (its RESUME refused) as a possible gap, and stores the new session', async () => {
    rig.discord.resumeWindowMs = 0;
    const [sessionBefore] = await storedSessionIds(rig);
    const identifiesBefore = rig.discord.identifies.length;
    rig.discord.dropConnection(4000);
    await rig.discord.waitFor(() => rig.discord.identifies.length > identifiesBefore, 30_000, 'a new IDENTIFY');
    await answered(ask('a question after the new IDENTIFY'));
    const gap = logs.find((line) => String(line['msg']).includes('a new one was started (IDENTIFY)'));
    expect(gap).toMatchObject({ level: 40, shardId: 0, gapMs: expect.any(Number) });
    const [sessionAfter] = await storedSessionIds(rig);
    expect(sessionAfter).toBeDefined();
    expect(sessionAfter).not.toBe(sessionBefore);
  });

  it('answers a message sent after the old session was resumed and before the new one exists (only the old carries it)', async () => {
    rig.discord.resumeWindowMs = Number.POSITIVE_INFINITY;
    await adapters.at(-1)?.close();
    let between: string | undefined;
    // The next process has resumed the old session and is logging its own client in: Discord sends the message on
    // the old session only, which the next process holds open until its client is ready.
    rig.discord.onGatewayBot = () => {
      rig.discord.onGatewayBot = undefined;
      between = ask('sent while the next process logs in');
    };
    const resumesBefore = rig.discord.resumes.length;
    await startAnother();
    expect(rig.discord.resumes.length).toBe(resumesBefore + 1);
    expect(between).toBeDefined();
    await answered(between ?? '');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(answerTo(rig.discord, ids.general, between ?? '')).toHaveLength(1);
  });
});
