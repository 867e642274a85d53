import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import { useTestRedis } from '../support/redis.ts';
import { answerTo, type DiscordRig, ids, person, startRig } from './discord-harness.ts';

const grace = person('200000000000000008', 'grace');

describe('Discord adapter: allowlist of guilds, channels and roles', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  beforeAll(async () => {
    rig = await startRig(redis, { allowlist: { guilds: [ids.guild], channels: [ids.general], roles: [ids.role] } });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('answers only in listed guilds and channels (threads by their parent), to authors with a listed role', async () => {
    const bot = rig.discord.botUser;
    const mention = (channelId: string, guildId: string, roles: string[]) =>
      rig.discord.sendMessage({
        channelId,
        guildId,
        author: grace,
        content: `<@${bot.id}> hi`,
        mentions: [bot],
        roles,
      });
    const allowed = mention(ids.general, ids.guild, [ids.role]);
    const inThread = mention(ids.thread, ids.guild, [ids.role]);
    const noRole = mention(ids.general, ids.guild, []);
    const otherChannel = mention(ids.chinese, ids.guild, [ids.role]);
    const otherGuild = mention(ids.zhChannel, ids.zhGuild, [ids.role]);
    const direct = rig.discord.sendMessage({ channelId: ids.dm, author: grace, content: 'hi in a DM' });
    await rig.discord.waitFor(
      () =>
        [
          answerTo(rig.discord, ids.general, allowed),
          answerTo(rig.discord, ids.thread, inThread),
          answerTo(rig.discord, ids.dm, direct),
        ].every((answers) => answers.length > 0),
      30_000,
      'the allowed answers',
    );
    for (const [channelId, id] of [
      [ids.general, noRole],
      [ids.chinese, otherChannel],
      [ids.zhChannel, otherGuild],
    ] as const) {
      expect(answerTo(rig.discord, channelId, id)).toEqual([]);
      expect(rig.model.callOf(`discord-${id}`)).toBeUndefined();
    }
  });

  it('tells a slash command user outside the allowlist, privately, in their language', async () => {
    const { id } = rig.discord.sendCommand({
      name: 'help',
      channelId: ids.chinese,
      guildId: ids.guild,
      user: grace,
      locale: 'zh-CN',
    });
    await rig.discord.waitFor(
      () => rig.discord.interactionCallbacks.some((callback) => callback.id === id),
      5000,
      'the refusal',
    );
    const callback = rig.discord.interactionCallbacks.find((candidate) => candidate.id === id);
    expect(callback?.body).toMatchObject({ type: 4, data: { content: t('zh-CN', 'discord.not_allowed'), flags: 64 } });
  });
});
