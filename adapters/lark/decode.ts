/** A mention in a Lark message (`@_user_1` in the text, the user's ids here). */
export interface LarkMention {
  key: string;
  id?: { open_id?: string; user_id?: string; union_id?: string };
  name?: string;
}

/** The parts of an `im.message.receive_v1` event the adapter reads (the SDK flattens header and event). */
export interface LarkMessageEvent {
  event_id?: string;
  /** The event header's creation time (ms, as a string). */
  create_time?: string;
  token?: string;
  sender?: { sender_id?: { open_id?: string; user_id?: string }; sender_type?: string };
  message?: {
    message_id: string;
    root_id?: string;
    parent_id?: string;
    thread_id?: string;
    create_time?: string;
    chat_id: string;
    chat_type: string;
    message_type: string;
    content: string;
    mentions?: LarkMention[];
  };
}

/** A Lark message decoded into neutral parts; `raw` is the event as received. */
export interface DecodedLarkMessage {
  messageId: string;
  chatId: string;
  chatType: 'p2p' | 'group';
  threadId?: string;
  parentId?: string;
  senderOpenId: string;
  /** Sent by an app or bot (never answered). */
  fromBot: boolean;
  /** Text with the bot's mention removed and other mentions written as `@name`. */
  text: string;
  /** Image keys of the message itself (an image message, pictures in a post). */
  imageKeys: string[];
  /** The bot's own open_id is among the mentions (`@_all` is not a mention of the bot). */
  mentionsBot: boolean;
  /** When the message was sent (ms since the epoch), when the event says. */
  createdAt?: number;
  raw: LarkMessageEvent;
}

interface PostElement {
  tag?: string;
  text?: string;
  href?: string;
  user_id?: string;
  user_name?: string;
  image_key?: string;
}

function mentionText(mention: LarkMention | undefined, botOpenId: string, fallback: string): string {
  if (mention === undefined) return fallback === '@_all' ? '@all' : fallback;
  if (mention.id?.open_id === botOpenId) return '';
  return `@${mention.name ?? mention.key}`;
}

function replaceMentions(text: string, mentions: readonly LarkMention[], botOpenId: string): string {
  return text.replace(/@_(?:user_\d+|all)/g, (key) =>
    mentionText(
      mentions.find((mention) => mention.key === key),
      botOpenId,
      key,
    ),
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const stringOrEmpty = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A post body, possibly wrapped in a locale key (`{"zh_cn": {...}}`). */
function postBody(content: Record<string, unknown>): { title: unknown; content: unknown[] } {
  if (Array.isArray(content['content'])) return { title: content['title'], content: content['content'] };
  for (const value of Object.values(content)) {
    if (isRecord(value) && Array.isArray(value['content'])) return { title: value['title'], content: value['content'] };
  }
  return { title: '', content: [] };
}

// Event content is user-controlled JSON: every field is checked for its type (a malformed post is decoded as far as
// it makes sense, never thrown on), so one broken event cannot fail the handler and be redelivered for hours.
function decodePost(
  content: Record<string, unknown>,
  mentions: readonly LarkMention[],
  botOpenId: string,
): { text: string; imageKeys: string[] } {
  const body = postBody(content);
  const imageKeys: string[] = [];
  const lines: string[] = [];
  for (const paragraph of body.content) {
    if (!Array.isArray(paragraph)) continue;
    let line = '';
    for (const element of paragraph as unknown[]) {
      if (!isRecord(element)) continue;
      const { tag } = element as PostElement;
      if (tag === 'text' || tag === 'a' || tag === 'code_block' || tag === 'md') {
        line += stringOrEmpty(element['text']);
      } else if (tag === 'at') {
        const key = stringOrEmpty(element['user_id']);
        const userName = element['user_name'];
        const mention = mentions.find((candidate) => candidate.key === key || candidate.id?.open_id === key);
        line += mentionText(mention, botOpenId, typeof userName === 'string' ? `@${userName}` : key);
      } else if (tag === 'img' && typeof element['image_key'] === 'string' && element['image_key'] !== '') {
        imageKeys.push(element['image_key']);
      }
    }
    lines.push(line);
  }
  const title = stringOrEmpty(body.title).trim();
  const text = lines.join('\n').trim();
  return { text: title === '' ? text : `${title}\n${text}`.trim(), imageKeys };
}

/**
 * Decodes an `im.message.receive_v1` event: text, image and post (rich text with pictures and @-mentions) messages.
 * Other message types (files, stickers, audio…) give undefined: there is nothing the model can look at.
 */
export function decodeMessageEvent(event: LarkMessageEvent, botOpenId: string): DecodedLarkMessage | undefined {
  const message = event.message;
  if (message === undefined || message.message_id === undefined || message.chat_id === undefined) return undefined;
  const mentions = Array.isArray(message.mentions) ? message.mentions.filter(isRecord) : [];
  let content: unknown;
  try {
    content = JSON.parse(message.content);
  } catch {
    return undefined;
  }
  if (!isRecord(content)) return undefined;
  let text = '';
  let imageKeys: string[] = [];
  if (message.message_type === 'text') {
    text = replaceMentions(stringOrEmpty(content['text']), mentions, botOpenId);
  } else if (message.message_type === 'image') {
    if (typeof content['image_key'] === 'string' && content['image_key'] !== '') imageKeys = [content['image_key']];
  } else if (message.message_type === 'post') {
    ({ text, imageKeys } = decodePost(content, mentions, botOpenId));
  } else {
    return undefined;
  }
  const createdAt = Number(message.create_time ?? event.create_time);
  const senderOpenId = event.sender?.sender_id?.open_id ?? event.sender?.sender_id?.user_id ?? '';
  return {
    messageId: message.message_id,
    chatId: message.chat_id,
    chatType: message.chat_type === 'p2p' ? 'p2p' : 'group',
    ...(message.thread_id ? { threadId: message.thread_id } : {}),
    ...(message.parent_id ? { parentId: message.parent_id } : {}),
    senderOpenId,
    fromBot: event.sender?.sender_type !== undefined && event.sender.sender_type !== 'user',
    text: text.replace(/[ \t]+/g, ' ').trim(),
    imageKeys,
    mentionsBot: mentions.some((mention) => mention.id?.open_id === botOpenId),
    ...(Number.isFinite(createdAt) && createdAt > 0 ? { createdAt } : {}),
    raw: event,
  };
}
