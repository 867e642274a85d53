import type { Attachment, Message } from 'discord.js';
import type { IngestAttachment } from '../../src/contracts/ingest-job.ts';
import { channelKeyFor } from '../../src/contracts/platform.ts';
import { type DiscordAllowlist, isAllowedImageUrl } from './discord-config.ts';

/** Why a message reached the bot: the triggers of the Discord adapter. */
export type DiscordTrigger = 'direct-message' | 'mention' | 'reply-to-bot';

/** A Discord message turned into the neutral parts the pipeline needs (the raw message stays reachable). */
export interface DecodedDiscordMessage {
  raw: Message;
  /** The question, bot mention removed, other user mentions as `@name`, image links removed. */
  text: string;
  /** Every image found, in order: attachments, image embeds, CDN image links. */
  images: IngestAttachment[];
  channelKey: string;
  channelId: string;
  user: { id: string; name: string };
  /** `guild.preferredLocale` (plain messages carry no user locale). */
  languageHint?: string;
}

const imageExtension = /\.(?:png|jpe?g|webp|gif)$/i;
const linkPattern = /https?:\/\/[^\s<>]+/g;

/** Why a message is not for the bot, or the trigger that makes it so. */
export function triggerOf(message: Message, botId: string): DiscordTrigger | undefined {
  if (message.author.bot || message.author.id === botId || message.webhookId !== null) return undefined;
  if (message.system) return undefined;
  if (message.guildId === null) return 'direct-message';
  if (message.reference !== null && message.mentions.repliedUser?.id === botId) return 'reply-to-bot';
  if (message.mentions.users.has(botId)) return 'mention';
  return undefined;
}

/** True when the allowlist lets the message's guild, channel, author and roles through. */
export function isAllowed(
  allowlist: DiscordAllowlist,
  place: {
    guildId: string | null;
    channelId: string;
    parentId: string | null;
    userId: string;
    roleIds: readonly string[];
  },
): boolean {
  if (allowlist.users.length > 0 && !allowlist.users.includes(place.userId)) return false;
  if (place.guildId === null) return true;
  if (allowlist.guilds.length > 0 && !allowlist.guilds.includes(place.guildId)) return false;
  if (
    allowlist.channels.length > 0 &&
    !allowlist.channels.includes(place.channelId) &&
    (place.parentId === null || !allowlist.channels.includes(place.parentId))
  ) {
    return false;
  }
  if (allowlist.roles.length > 0 && !place.roleIds.some((role) => allowlist.roles.includes(role))) return false;
  return true;
}

/** True when an attachment looks like an image (its type, else its name; no type at all: sniffed after download). */
function isImageAttachment(attachment: Attachment): boolean {
  if (attachment.contentType !== null) return attachment.contentType.startsWith('image/');
  return imageExtension.test(attachment.name) || !attachment.name.includes('.');
}

/** Stands in for an attachment URL that does not parse; no downloader fetches it. */
const unparseableAttachmentUrl = 'about:invalid';

function urlAttachment(
  url: string,
  extra: { fileName?: string; mediaType?: string; size?: number } = {},
): IngestAttachment {
  return { kind: 'url', url, ...extra };
}

/** The channel key of a channel or thread: `discord:<channel>` or `discord:<parent>:<thread>`. */
export function discordChannelKey(channelId: string, threadParentId: string | null): string {
  return threadParentId === null
    ? channelKeyFor('discord', channelId)
    : channelKeyFor('discord', threadParentId, channelId);
}

/** Decodes a message the bot should answer into its question, images and channel key. */
export function decodeMessage(
  message: Message,
  options: { botId: string; imageOrigins: readonly string[] },
): DecodedDiscordMessage {
  const images: IngestAttachment[] = [];
  const seen = new Set<string>();
  const add = (attachment: IngestAttachment & { kind: 'url' }) => {
    if (seen.has(attachment.url)) return;
    seen.add(attachment.url);
    images.push(attachment);
  };
  for (const attachment of message.attachments.values()) {
    if (!isImageAttachment(attachment)) continue;
    // An attachment URL that does not even parse stays in the message (the user is told the image is unreadable)
    // instead of failing the message's contract and going unanswered.
    add(
      urlAttachment(URL.canParse(attachment.url) ? attachment.url : unparseableAttachmentUrl, {
        fileName: attachment.name,
        size: attachment.size,
        ...(attachment.contentType === null ? {} : { mediaType: attachment.contentType }),
      }) as IngestAttachment & { kind: 'url' },
    );
  }
  for (const embed of message.embeds) {
    const url = embed.image?.url ?? embed.thumbnail?.url;
    if (url !== undefined && isAllowedImageUrl(url, options.imageOrigins)) {
      add(urlAttachment(url) as IngestAttachment & { kind: 'url' });
    }
  }
  let text = message.content;
  for (const link of message.content.match(linkPattern) ?? []) {
    if (!isAllowedImageUrl(link, options.imageOrigins) || !imageExtension.test(new URL(link).pathname)) continue;
    add(urlAttachment(link) as IngestAttachment & { kind: 'url' });
    text = text.replace(link, ' ');
  }
  text = text.replace(new RegExp(`<@!?${options.botId}>`, 'g'), ' ');
  text = text.replace(/<@!?(\d+)>/g, (mention, id: string) => {
    const user = message.mentions.users.get(id);
    return user === undefined ? mention : `@${user.displayName}`;
  });
  const channel = message.channel;
  const parentId = channel.isThread() ? channel.parentId : null;
  const preferredLocale = message.guild?.preferredLocale;
  return {
    raw: message,
    text: text.replace(/[ \t]+/g, ' ').trim(),
    images,
    channelKey: discordChannelKey(message.channelId, parentId),
    channelId: message.channelId,
    user: { id: message.author.id, name: message.member?.displayName ?? message.author.displayName },
    ...(preferredLocale === undefined ? {} : { languageHint: preferredLocale }),
  };
}
