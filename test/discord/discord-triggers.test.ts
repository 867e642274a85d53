import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { t } from '../../src/i18n/catalog.ts';
import { errorMessage } from '../../src/i18n/error-message.ts';
import type { PostedMessage } from '../support/fake-discord/fake-discord.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';
import { answerTo, type DiscordRig, ids, person, startRig } from './discord-harness.ts';

const alice = person('200000000000000001', 'alice');
const bob = person('200000000000000002', 'bob');
const otherBot = { id: '200000000000000009', username: 'otherbot', bot: true };

// Triggers, non-triggers and images, end to end: the real discord.js client against the fake Discord, real Redis and
// BullMQ, the real tiny Ziya model.
describe('Discord adapter: triggers and images', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  let png: Buffer;
  beforeAll(async () => {
    rig = await startRig(redis);
    png = await solidPng(200, 30, 30);
  });
  afterAll(async () => {
    await rig?.close();
  });

  const mention = () => `<@${rig.discord.botUser.id}>`;
  const bot = () => rig.discord.botUser;

  async function answered(channelId: string, messageId: string): Promise<PostedMessage> {
    await rig.discord.waitFor(
      () => answerTo(rig.discord, channelId, messageId).length > 0,
      30_000,
      `answer to ${messageId}`,
    );
    const answer = answerTo(rig.discord, channelId, messageId)[0];
    if (answer === undefined) throw new Error('no answer');
    // The final reply lands after streaming; wait until the delivery worker is done with it.
    await rig.discord.waitFor(
      () => rig.model.callOf(`discord-${messageId}`)?.result !== undefined || answer.content !== '',
      30_000,
    );
    return answer;
  }

  /** Sends a DM that must be answered; everything sent before it has been looked at by then. */
  async function sentinel(): Promise<void> {
    const id = rig.discord.sendMessage({ channelId: ids.dm, author: bob, content: 'sentinel' });
    await answered(ids.dm, id);
  }

  function attachment(name: string, bytes: Uint8Array, contentType?: string) {
    return {
      url: rig.discord.serveFile(name, bytes, contentType ?? 'image/png'),
      filename: name,
      size: bytes.byteLength,
      ...(contentType === undefined ? {} : { contentType }),
    };
  }

  it('registers /ask, /reset, /help and connects through DISCORD_API_URL (IDENTIFY, READY, GUILD_CREATE)', () => {
    expect(rig.adapter.botUserId).toBe(bot().id);
    expect(rig.discord.identifies).toHaveLength(1);
    const names = (rig.discord.commands as Array<{ name: string }>).map((command) => command.name).sort();
    expect(names).toEqual(['ask', 'help', 'reset']);
    expect(rig.adapter.client.guilds.cache.get(ids.guild)?.preferredLocale).toBe('en-US');
  });

  it('answers any message in a DM, as a reply that pings nobody and carries an enforced nonce', async () => {
    const id = rig.discord.sendMessage({ channelId: ids.dm, author: alice, content: 'hello, what can you see?' });
    const answer = await answered(ids.dm, id);
    expect(answer.body['allowed_mentions']).toEqual({ parse: [], replied_user: true });
    expect(answer.body['enforce_nonce']).toBe(true);
    expect(String(answer.body['nonce']).length).toBeLessThanOrEqual(25);
    expect(rig.discord.typing.some((typing) => typing.channelId === ids.dm)).toBe(true);
    expect(rig.model.callOf(`discord-${id}`)?.request.question).toBe('hello, what can you see?');
  });

  it('answers an @-mention in a guild channel (mention stripped) and in a thread (its own channel key)', async () => {
    const inChannel = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: `${mention()} what colour is the sky?`,
      mentions: [bot()],
    });
    await answered(ids.general, inChannel);
    expect(rig.model.callOf(`discord-${inChannel}`)?.request.question).toBe('what colour is the sky?');
    const inThread = rig.discord.sendMessage({
      channelId: ids.thread,
      guildId: ids.guild,
      author: alice,
      content: `${mention()} and in this thread?`,
      mentions: [bot()],
    });
    await answered(ids.thread, inThread);
    const history = rig.model.callOf(`discord-${inThread}`)?.request.history ?? [];
    expect(history).toEqual([]); // the thread does not share the parent channel's conversation
    const threadKey = `discord:${ids.general}:${ids.thread}`;
    await expect.poll(async () => (await rig.pipeline.contexts.load(threadKey)).length).toBe(2);
  });

  it("answers a reply to one of the bot's messages without a mention", async () => {
    const first = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: bob,
      content: `${mention()} first question`,
      mentions: [bot()],
    });
    const botMessage = await answered(ids.general, first);
    const followUp = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: bob,
      content: 'and a follow-up',
      replyTo: botMessage,
    });
    await answered(ids.general, followUp);
    expect(rig.model.callOf(`discord-${followUp}`)?.request.question).toBe('and a follow-up');
  });

  it('ignores guild messages without a mention, replies to other people, other bots and itself', async () => {
    const plain = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: 'just chatting',
    });
    const replyToHuman = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: 'replying to bob',
      replyTo: { id: '300000000000000001', channelId: ids.general, author: bob, content: 'hi' },
    });
    const fromBot = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: otherBot,
      content: `${mention()} I am a bot`,
      mentions: [bot()],
    });
    const fromItself = rig.discord.sendMessage({ channelId: ids.dm, author: bot(), content: 'my own words' });
    const everyone = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: '@everyone look',
    });
    await sentinel();
    for (const id of [plain, replyToHuman, fromBot, fromItself, everyone]) {
      expect(rig.model.callOf(`discord-${id}`)).toBeUndefined();
      expect(answerTo(rig.discord, ids.general, id)).toEqual([]);
    }
  });

  it('uses an attached image (png, webp, gif first frame, and one sent without a content type)', async () => {
    const webp = await sharp(png).webp().toBuffer();
    const gif = await sharp(png).gif().toBuffer();
    const cases = [
      attachment('a.png', png, 'image/png'),
      attachment('b.webp', webp, 'image/webp'),
      attachment('c.gif', gif, 'image/gif'),
      attachment('d', png),
    ];
    for (const [index, file] of cases.entries()) {
      const dm = `10000000000000005${index}`; // a fresh conversation: the picture cannot come from earlier turns
      const id = rig.discord.sendMessage({
        channelId: dm,
        author: alice,
        content: 'what is this?',
        attachments: [file],
      });
      const answer = await answered(dm, id);
      expect(answer.content).not.toBe(errorMessage('en', 'image_unreadable'));
      expect(rig.model.callOf(`discord-${id}`)?.request.image, file.filename).toBeDefined();
    }
  });

  it('uses an image embed and a CDN image link, but never fetches a link on another host', async () => {
    const embedUrl = rig.discord.serveFile('embed.png', png);
    const embedded = rig.discord.sendMessage({
      channelId: ids.dm,
      author: alice,
      content: 'what about this one',
      embeds: [{ type: 'image', url: embedUrl, thumbnail: { url: embedUrl, width: 64, height: 48 } }],
    });
    await answered(ids.dm, embedded);
    expect(rig.model.callOf(`discord-${embedded}`)?.request.image).toBeDefined();

    const linkUrl = rig.discord.serveFile('link.png', png);
    const linked = rig.discord.sendMessage({ channelId: ids.dm, author: alice, content: `describe ${linkUrl} please` });
    await answered(ids.dm, linked);
    expect(rig.model.callOf(`discord-${linked}`)?.request.image).toBeDefined();
    expect(rig.model.callOf(`discord-${linked}`)?.request.question).toBe('describe please');

    const before = rig.discord.requests.filter((request) => request.path.startsWith('/attachments/')).length;
    const offHost = linkUrl.replace('127.0.0.1', 'localhost');
    const freshDm = '100000000000000039'; // no earlier picture in this conversation
    const foreign = rig.discord.sendMessage({ channelId: freshDm, author: alice, content: `describe ${offHost}` });
    await answered(freshDm, foreign);
    expect(rig.model.callOf(`discord-${foreign}`)?.request.question).toBe(`describe ${offHost}`);
    expect(rig.model.callOf(`discord-${foreign}`)?.request.image).toBeUndefined();
    expect(rig.discord.requests.filter((request) => request.path.startsWith('/attachments/')).length).toBe(before);
  });

  it('refuses a redirect off the allowed hosts, too-large and unreadable images, with localized replies', async () => {
    const redirect = attachment('redirect.png', png);
    rig.discord.serveFile('redirect.png', png, 'image/png', 'http://localhost:1/elsewhere.png');
    const redirected = rig.discord.sendMessage({
      channelId: ids.dm,
      author: alice,
      content: 'what is it?',
      attachments: [redirect],
    });
    expect((await answered(ids.dm, redirected)).content).toBe(errorMessage('en', 'image_unreadable'));

    const big = new Uint8Array(300 * 1024);
    const tooLarge = rig.discord.sendMessage({
      channelId: ids.zhChannel,
      guildId: ids.zhGuild,
      author: alice,
      content: `${mention()} 这张图片里有什么？`,
      mentions: [bot()],
      attachments: [attachment('big.png', big, 'image/png')],
    });
    expect((await answered(ids.zhChannel, tooLarge)).content).toBe(errorMessage('zh-CN', 'image_too_large'));

    const garbage = rig.discord.sendMessage({
      channelId: ids.dm,
      author: alice,
      content: 'and this?',
      attachments: [attachment('broken.png', new TextEncoder().encode('not a picture at all'), 'image/png')],
    });
    const refusal = (await answered(ids.dm, garbage)).content;
    expect([errorMessage('en', 'image_unreadable'), errorMessage('en', 'unsupported_format')]).toContain(refusal);
  });

  it('uses the first of several images and says so', async () => {
    const id = rig.discord.sendMessage({
      channelId: ids.dm,
      author: alice,
      content: 'compare these',
      attachments: [
        attachment('one.png', png, 'image/png'),
        attachment('two.png', await solidPng(0, 0, 255), 'image/png'),
      ],
    });
    const answer = await answered(ids.dm, id);
    await rig.discord.waitFor(
      () => answer.content.startsWith(t('en', 'note.first_image_only', { count: 2 })),
      10_000,
      'note',
    );
    expect(rig.discord.requests.filter((request) => request.path === '/attachments/two.png')).toHaveLength(0);
  });

  it('joins a picture and the question in its sender’s next message into one request', async () => {
    const picture = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: mention(),
      mentions: [bot()],
      attachments: [attachment('joined.png', await solidPng(10, 200, 10), 'image/png')],
    });
    const question = rig.discord.sendMessage({
      channelId: ids.general,
      guildId: ids.guild,
      author: alice,
      content: 'what colour is it?',
    });
    await answered(ids.general, question);
    const call = rig.model.callOf(`discord-${question}`);
    expect(call?.request.question).toBe('what colour is it?');
    expect(call?.request.image).toBeDefined();
    expect(rig.model.callOf(`discord-${picture}`)).toBeUndefined();

    const alone = rig.discord.sendMessage({
      channelId: ids.dm,
      author: alice,
      content: '',
      attachments: [attachment('alone.png', png, 'image/png')],
    });
    await answered(ids.dm, alone); // after the window, answered by itself
    expect(rig.model.callOf(`discord-${alone}`)?.request.image).toBeDefined();
  });

  it('writes @everyone in an answer without pinging anyone', async () => {
    const id = rig.discord.sendMessage({ channelId: ids.dm, author: alice, content: '/help @everyone' });
    const answer = await answered(ids.dm, id);
    expect(answer.body['allowed_mentions']).toEqual({ parse: [], replied_user: true });
    expect(answer.content).toBe(t('en', 'help.text'));
  });
});
