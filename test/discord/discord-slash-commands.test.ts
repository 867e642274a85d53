import { describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import type { FakeDiscord, PostedMessage } from '../support/fake-discord/fake-discord.ts';
import { solidPng } from '../support/test-images.ts';
import { ids, person, useRig } from './discord-harness.ts';

const carol = person('200000000000000003', 'carol');

// Slash commands through the real discord.js interaction path: defer within 3 s, then edit the original response.
describe('Discord adapter: slash commands', () => {
  const rig = useRig();

  function original(token: string): PostedMessage | undefined {
    return rig.discord.messages.find((message) => message.interactionToken === token && message.via === 'original');
  }

  /** Sends a slash command as carol and waits until its original response reads `text` (`what`, if it times out). */
  async function commandAnswered(
    command: Omit<Parameters<FakeDiscord['sendCommand']>[0], 'user'>,
    text: string,
    what: string,
  ) {
    const sent = rig.discord.sendCommand({ ...command, user: carol });
    await rig.discord.waitFor(() => original(sent.token)?.content === text, 30_000, what);
    return sent;
  }

  async function finalText(token: string, requestId: string): Promise<string> {
    await rig.discord.waitFor(() => (original(token)?.content ?? '') !== '', 30_000, 'the edited response');
    await rig.discord.waitFor(
      () => rig.discord.requests.some((request) => request.path.includes(token) && request.method === 'PATCH'),
      30_000,
    );
    // The final edit comes from the delivery worker after the model is done.
    await rig.discord.waitFor(
      () => rig.model.callOf(requestId)?.result === undefined || original(token)?.edits.at(-1) !== undefined,
      30_000,
    );
    return original(token)?.content ?? '';
  }

  it('/ask with a question and an image: deferred at once, answered by editing the response', async () => {
    const png = await solidPng(90, 90, 200);
    const url = rig.discord.serveFile('slash.png', png);
    const sentAt = Date.now();
    const { id, token } = rig.discord.sendCommand({
      name: 'ask',
      channelId: ids.general,
      guildId: ids.guild,
      user: carol,
      locale: 'en-US',
      options: [{ name: 'question', type: 3, value: 'What is in this picture?' }],
      attachment: { url, filename: 'slash.png', contentType: 'image/png', size: png.byteLength },
    });
    await rig.discord.waitFor(
      () => rig.discord.interactionCallbacks.some((callback) => callback.id === id),
      3000,
      'defer',
    );
    const callback = rig.discord.interactionCallbacks.find((candidate) => candidate.id === id);
    expect(callback?.body).toMatchObject({ type: 5 });
    expect((callback?.at ?? Number.POSITIVE_INFINITY) - sentAt).toBeLessThan(3000);
    await finalText(token, `discord-${id}`);
    await expect.poll(() => rig.model.callOf(`discord-${id}`)?.result).toBeDefined();
    const call = rig.model.callOf(`discord-${id}`);
    expect(call?.request.question).toBe('What is in this picture?');
    expect(call?.request.image).toBeDefined();
    const edit = rig.discord.requests.findLast((request) => request.path.includes(token) && request.method === 'PATCH');
    expect((edit?.body as Record<string, unknown> | undefined)?.['allowed_mentions']).toEqual({
      parse: [],
      replied_user: true,
    });
  });

  it('/help answers in the interaction locale; /reset clears the channel and confirms in the interaction locale', async () => {
    const help = await commandAnswered(
      { name: 'help', channelId: ids.chinese, guildId: ids.guild, locale: 'zh-CN' },
      t('zh-CN', 'help.text'),
      '/help in Chinese',
    );
    expect(rig.discord.interactionCallbacks.find((callback) => callback.id === help.id)?.body).toMatchObject({
      type: 5,
    });

    const channelKey = `discord:${ids.zhChannel}`;
    await rig.pipeline.contexts.append(channelKey, 'discord-seed', [
      { requestId: 'discord-seed', role: 'user', text: '旧问题', language: 'zh-CN', at: new Date().toISOString() },
    ]);
    expect(await rig.pipeline.contexts.load(channelKey)).toHaveLength(1);
    await commandAnswered(
      { name: 'reset', channelId: ids.zhChannel, guildId: ids.zhGuild, locale: 'zh-TW' },
      t('zh-TW', 'reset.done'),
      '/reset in zh-TW',
    );
    expect(await rig.pipeline.contexts.load(channelKey)).toEqual([]);
  });

  it('a redelivered INTERACTION_CREATE is acknowledged once and answered once', async () => {
    const ask = rig.discord.sendCommand({
      name: 'ask',
      channelId: ids.general,
      guildId: ids.guild,
      user: carol,
      locale: 'en-US',
      options: [{ name: 'question', type: 3, value: 'one more question' }],
    });
    await finalText(ask.token, `discord-${ask.id}`);
    rig.discord.redispatch(ask.sequence);
    const help = await commandAnswered(
      { name: 'help', channelId: ids.general, guildId: ids.guild, locale: 'en-US' },
      t('en', 'help.text'),
      'a later /help',
    );
    rig.discord.redispatch(help.sequence);
    await rig.discord.waitFor(
      () =>
        rig.discord.requests.filter((request) =>
          request.path.endsWith(`/interactions/${help.id}/${help.token}/callback`),
        ).length === 2,
      10_000,
      'the refused second ack',
    );
    for (const { id } of [ask, help]) {
      expect(rig.discord.interactionCallbacks.filter((callback) => callback.id === id)).toHaveLength(1);
    }
    expect(rig.model.calls.filter((call) => call.request.requestId === `discord-${ask.id}`)).toHaveLength(1);
    expect(
      rig.discord.messages.filter((message) => message.interactionToken === ask.token && message.via === 'followup'),
    ).toEqual([]);
  });
});
