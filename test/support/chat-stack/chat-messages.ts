import { discordChannelKey } from '../../../adapters/discord/decode.ts';
import { channelKeyFor, type Platform, requestIdFor } from '../../../src/contracts/platform.ts';
import type { FakeDiscord } from '../fake-discord/fake-discord.ts';
import type { FakeOpenPlatform } from '../fake-lark/fake-open-platform.ts';
import { messageEvent, newMessageId } from '../fake-lark/lark-events.ts';

/** A conversation the bot takes part in: a Discord DM or a Lark p2p chat, with the one user in it. */
export interface ChatChannel {
  platform: Extract<Platform, 'discord' | 'lark'>;
  /** The Discord channel id or the Lark chat id. */
  id: string;
  /** The pipeline's channel key (`discord:<id>`, `lark:<chat id>`). */
  channelKey: string;
  user: { id: string; name: string };
}

/** A message delivered to the bot, as the platform saw it. */
export interface SentMessage {
  requestId: string;
  channel: ChatChannel;
  messageId: string;
  /** performance.now() when it was first delivered. */
  at: number;
  /** Discord: the gateway sequence number of its MESSAGE_CREATE (for redispatch and RESUME replay). */
  sequence?: number;
  /** Lark: the long-connection frame message id (for re-pushes). */
  frameId?: string;
}

/** What a user writes: text and, optionally, one PNG picture (`missing`: one the platform can no longer serve). */
export interface ChatInput {
  text: string;
  picture?: Buffer | 'missing';
}

/**
 * `count` channels: the first half (rounded up) Discord DMs, the rest Lark p2p chats. `tag` (a small number) keeps
 * the ids of two sets apart.
 */
export function chatChannels(count: number, tag = 0): ChatChannel[] {
  const discordCount = Math.ceil(count / 2);
  return Array.from({ length: count }, (_, index): ChatChannel => {
    if (index < discordCount) {
      const id = String(300000000000000000n + BigInt(tag) * 1_000_000n + BigInt(index));
      const user = { id: String(400000000000000000n + BigInt(tag) * 1_000_000n + BigInt(index)), name: `user${index}` };
      return { platform: 'discord', id, channelKey: discordChannelKey(id, null), user };
    }
    const id = tag === 0 ? `oc_load_${index}` : `oc_load_${tag}_${index}`;
    return {
      platform: 'lark',
      id,
      channelKey: channelKeyFor('lark', id),
      user: { id: tag === 0 ? `ou_load_${index}` : `ou_load_${tag}_${index}`, name: `user${index}` },
    };
  });
}

let fileCounter = 0;

/** Delivers a Discord DM over the fake gateway (a picture as an attachment on the fake CDN). */
export function sendDiscordMessage(discord: FakeDiscord, channel: ChatChannel, input: ChatInput): SentMessage {
  const messageId = discord.nextId();
  fileCounter += 1;
  const name = `picture-${fileCounter}.png`;
  const attachments =
    input.picture === undefined
      ? []
      : [
          {
            url:
              input.picture === 'missing'
                ? `${discord.origin}/attachments/${name}`
                : discord.serveFile(name, input.picture),
            filename: name,
            contentType: 'image/png',
            size: input.picture.length,
          },
        ];
  const sequence = discord.dispatch(
    'MESSAGE_CREATE',
    discord.messagePayload(messageId, {
      channelId: channel.id,
      author: { id: channel.user.id, username: channel.user.name },
      content: input.text,
      attachments,
    }),
  );
  return { requestId: requestIdFor('discord', messageId), channel, messageId, at: performance.now(), sequence };
}

/**
 * Pushes a Lark p2p message over the long connection (a picture as a post with an image resource); `socketIndex`
 * picks the connection (random when unset).
 */
export function sendLarkMessage(
  lark: FakeOpenPlatform,
  channel: ChatChannel,
  input: ChatInput,
  socketIndex?: number,
): SentMessage {
  const messageId = newMessageId();
  fileCounter += 1;
  const fileKey = `img_${fileCounter}`;
  if (input.picture !== undefined && input.picture !== 'missing') lark.addResource(messageId, fileKey, input.picture);
  const event = messageEvent({
    messageId,
    chatId: channel.id,
    chatType: 'p2p',
    sender: { openId: channel.user.id, name: channel.user.name },
    messageType: input.picture === undefined ? 'text' : 'post',
    content:
      input.picture === undefined
        ? { text: input.text }
        : {
            zh_cn: {
              title: '',
              content: [
                [
                  { tag: 'text', text: input.text },
                  { tag: 'img', image_key: fileKey },
                ],
              ],
            },
          },
  });
  const frameId = lark.pushEvent(event, socketIndex);
  return { requestId: requestIdFor('lark', messageId), channel, messageId, at: performance.now(), frameId };
}
