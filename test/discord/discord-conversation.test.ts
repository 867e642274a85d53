import { describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import { solidPng } from '../support/test-images.ts';
import { answerTo, ids, person, useRig } from './discord-harness.ts';

const li = person('200000000000000006', 'li');
const frank = person('200000000000000007', 'frank');

// Two conversations at once on the real tiny model: Chinese in a zh-CN guild, English in an en-US guild. Each keeps
// its own context; each is answered in its own language.
describe('Discord adapter: a Chinese and an English conversation at once', () => {
  const rig = useRig();

  it('keeps per-channel context and language', async () => {
    const bot = rig.discord.botUser;
    const mention = `<@${bot.id}>`;
    const red = await solidPng(220, 20, 20);
    const blue = await solidPng(20, 20, 220);
    const ask = (channelId: string, guildId: string, author: typeof li, content: string, image?: Buffer, name = '') =>
      rig.discord.sendMessage({
        channelId,
        guildId,
        author,
        content: `${mention} ${content}`,
        mentions: [bot],
        ...(image === undefined
          ? {}
          : {
              attachments: [
                {
                  url: rig.discord.serveFile(name, image),
                  filename: name,
                  contentType: 'image/png',
                  size: image.byteLength,
                },
              ],
            }),
      });
    const zh1 = ask(ids.zhChannel, ids.zhGuild, li, '这张图片里有什么颜色？', red, 'red.png');
    const en1 = ask(ids.general, ids.guild, frank, 'What colour is this picture?', blue, 'blue.png');
    const waitAnswered = (channelId: string, id: string) =>
      rig.discord.waitFor(
        () =>
          answerTo(rig.discord, channelId, id).length > 0 && rig.model.callOf(`discord-${id}`)?.result !== undefined,
        30_000,
        `answer to ${id}`,
      );
    await Promise.all([waitAnswered(ids.zhChannel, zh1), waitAnswered(ids.general, en1)]);
    const zh2 = ask(ids.zhChannel, ids.zhGuild, li, '它是什么形状？');
    const en2 = ask(ids.general, ids.guild, frank, 'What shape is it?');
    await Promise.all([waitAnswered(ids.zhChannel, zh2), waitAnswered(ids.general, en2)]);

    const call = (id: string) => rig.model.callOf(`discord-${id}`)?.request;
    expect(call(zh1)?.language).toBe('zh-CN');
    expect(call(zh2)?.language).toBe('zh-CN');
    expect(call(en1)?.language).toBe('en');
    expect(call(en2)?.language).toBe('en');
    // The follow-ups see their own channel's first turn (and picture), not the other channel's.
    expect(call(zh2)?.history.map((turn) => turn.text)[0]).toBe('这张图片里有什么颜色？');
    expect(call(en2)?.history.map((turn) => turn.text)[0]).toBe('What colour is this picture?');
    expect(call(zh2)?.history.some((turn) => turn.text.includes('colour'))).toBe(false);
    expect(call(zh2)?.image?.sha256).toBe(call(zh1)?.image?.sha256);
    expect(call(en2)?.image?.sha256).toBe(call(en1)?.image?.sha256);
    expect(call(zh1)?.image?.sha256).not.toBe(call(en1)?.image?.sha256);
    expect(await rig.pipeline.contexts.load(`discord:${ids.zhChannel}`)).toHaveLength(4);
    expect(await rig.pipeline.contexts.load(`discord:${ids.general}`)).toHaveLength(4);
    // The tiny model has random weights: every answer says so, in the answer's language.
    expect(rig.model.demo).toBe(true);
    const noticed = (channelId: string, id: string, notice: string) =>
      rig.discord.waitFor(
        () =>
          answerTo(rig.discord, channelId, id)
            .map((message) => message.content)
            .join('\n')
            .endsWith(notice),
        10_000,
        `the demo notice under the answer to ${id}`,
      );
    await noticed(ids.zhChannel, zh2, t('zh-CN', 'demo.banner'));
    await noticed(ids.general, en2, t('en', 'demo.banner'));
  });
});
