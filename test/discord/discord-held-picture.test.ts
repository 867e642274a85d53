import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiscordAdapter, startDiscordAdapter } from '../../adapters/discord/discord-adapter.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';
import { answerTo, type DiscordRig, ids, person, startRig } from './discord-harness.ts';

const carol = person('200000000000000003', 'carol');

// A picture sent alone waits (1.5 s here) for its sender's question. The wait lives in Redis and BullMQ, not in the
// adapter's memory: when the adapter that received it goes away, another one answers it.
describe('Discord adapter: a held picture outlives its adapter', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  let second: DiscordAdapter | undefined;
  beforeAll(async () => {
    rig = await startRig(redis);
  });
  afterAll(async () => {
    await second?.close();
    await rig?.close();
  });

  it('is answered alone, once, by the adapter still running', async () => {
    const png = await solidPng(200, 30, 30);
    const picture = rig.discord.sendMessage({
      channelId: ids.dm,
      author: carol,
      content: '',
      attachments: [{ url: rig.discord.serveFile('held.png', png), filename: 'held.png', size: png.length }],
    });
    const heldKey = `${redis.prefix}:held:discord:${ids.dm}:${carol.id}`;
    for (let waited = 0; (await redis.connection.exists(heldKey)) === 0; waited += 20) {
      if (waited > 10_000) throw new Error('the picture was never held');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The receiving adapter stops during the wait (as if it crashed: nothing is answered on its way out)...
    await rig.adapter.close();
    expect(answerTo(rig.discord, ids.dm, picture)).toHaveLength(0);
    // ...and another replica answers the picture by itself when the wait is over.
    second = await startDiscordAdapter(rig.pipeline, {
      token: rig.discord.token,
      apiUrl: rig.discord.apiUrl,
      eventsConnection: createRedisConnection(redis.url),
      tuning: { imageQuestionWindowMs: 1500 },
    });
    await rig.discord.waitFor(() => answerTo(rig.discord, ids.dm, picture).length > 0, 30_000, 'the held picture');
    expect(rig.model.callOf(`discord-${picture}`)?.request.image).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(answerTo(rig.discord, ids.dm, picture)).toHaveLength(1);
  });
});
