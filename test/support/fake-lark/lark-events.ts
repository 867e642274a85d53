import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';

/** A user as the fake platform knows them. */
export interface FakeUser {
  openId: string;
  name: string;
}

/** A mention in an event. */
export interface EventMention {
  key: string;
  id: { open_id: string; user_id?: string; union_id?: string };
  name: string;
  tenant_key?: string;
}

/** Fields of a user message event. */
export interface MessageEventInput {
  messageId?: string;
  chatId: string;
  chatType: 'p2p' | 'group';
  sender: FakeUser;
  messageType: 'text' | 'image' | 'post' | 'file';
  content: Record<string, unknown>;
  mentions?: EventMention[];
  parentId?: string;
  /** ms since the epoch. @defaultValue now */
  createTime?: number;
  appId?: string;
  verificationToken?: string;
}

let messageCounter = 0;

/** A fresh `om_…` message id. */
export function newMessageId(): string {
  messageCounter += 1;
  return `om_${randomBytes(12).toString('hex')}${messageCounter}`;
}

/** An `im.message.receive_v1` event (schema 2.0), as Lark sends it over both transports. */
export function messageEvent(input: MessageEventInput) {
  const createTime = String(input.createTime ?? Date.now());
  return {
    schema: '2.0',
    header: {
      event_id: randomUUID().replaceAll('-', ''),
      event_type: 'im.message.receive_v1',
      create_time: createTime,
      token: input.verificationToken ?? '',
      app_id: input.appId ?? '',
      tenant_key: 'tenant-test',
    },
    event: {
      sender: {
        sender_id: {
          open_id: input.sender.openId,
          user_id: `u-${input.sender.openId}`,
          union_id: `on_${input.sender.openId}`,
        },
        sender_type: 'user',
        tenant_key: 'tenant-test',
      },
      message: {
        message_id: input.messageId ?? newMessageId(),
        root_id: input.parentId ?? '',
        parent_id: input.parentId ?? '',
        create_time: createTime,
        update_time: createTime,
        chat_id: input.chatId,
        chat_type: input.chatType,
        message_type: input.messageType,
        content: JSON.stringify(input.content),
        mentions: input.mentions ?? [],
        user_agent: 'Mozilla/5.0',
      },
    },
  };
}

/** A message event's JSON type. */
export type MessageEvent = ReturnType<typeof messageEvent>;

/** Encrypts a body the way Lark does: base64(iv ‖ AES-256-CBC(key = sha256(encryptKey))). */
export function encryptBody(plaintext: string, encryptKey: string): string {
  const key = createHash('sha256').update(encryptKey).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

/** Options of {@link postWebhookEvent}. */
export interface WebhookSendOptions {
  encryptKey?: string;
  /** Sign with this key instead (a forger who does not know the real one). */
  signingKey?: string;
  /** Seconds since the epoch. @defaultValue now */
  timestamp?: number;
  /** Leave the signature headers out. */
  unsigned?: boolean;
}

/** Posts an event to a webhook the way the Lark open platform does (encrypted and signed when a key is set). */
export async function postWebhookEvent(
  url: string,
  payload: unknown,
  options: WebhookSendOptions = {},
): Promise<{ status: number; body: string }> {
  const body =
    options.encryptKey === undefined
      ? JSON.stringify(payload)
      : JSON.stringify({ encrypt: encryptBody(JSON.stringify(payload), options.encryptKey) });
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = randomBytes(8).toString('hex');
  const key = options.signingKey ?? options.encryptKey ?? '';
  const signature = createHash('sha256')
    .update(timestamp + nonce + key + body)
    .digest('hex');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (!options.unsigned) {
    headers['x-lark-request-timestamp'] = timestamp;
    headers['x-lark-request-nonce'] = nonce;
    headers['x-lark-signature'] = signature;
  }
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, body: await response.text() };
}
