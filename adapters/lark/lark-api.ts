import type { Readable } from 'node:stream';
import type { Client } from '@larksuiteoapi/node-sdk';
import type { Logger } from '../../src/observability/logger.ts';
import { platformErrors, platformRateLimited } from '../../src/observability/metrics.ts';
import { LarkApiError, LarkCredentialsError, larkRateLimitCode, toLarkApiError } from './lark-api-error.ts';
import { isLarkResourceKey } from './resource-key.ts';

/** Retry policy of the API calls. */
export interface LarkApiOptions {
  /** @defaultValue 4 */
  attempts: number;
  /** @defaultValue 250 */
  retryDelayMs: number;
  /** Largest image downloaded, in bytes. */
  maxImageBytes: number;
  logger: Logger;
}

interface LarkBody {
  code?: number | undefined;
  msg?: string | undefined;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** The Lark OpenAPI calls the adapter makes, through the SDK's `Client`, with `code` checks and retries. */
export class LarkApi {
  constructor(
    readonly client: Client,
    private readonly options: LarkApiOptions,
  ) {}

  /** Runs a call, retrying 429 (`99991400`), 5xx and network failures with exponential backoff and jitter. */
  async call<Body extends LarkBody>(
    operation: string,
    request: () => Promise<Body>,
    attempts = this.options.attempts,
  ): Promise<Body> {
    for (let attempt = 1; ; attempt += 1) {
      let failure: LarkApiError;
      try {
        const body = await request();
        if (body.code === undefined || body.code === 0) return body;
        failure = new LarkApiError(operation, body.code === larkRateLimitCode, 200, body.code, body.msg ?? '');
      } catch (error) {
        if (error instanceof Error && /tenant_access_token/.test(error.message)) {
          throw new LarkCredentialsError(`Lark refused the app credentials (${error.message})`);
        }
        failure = toLarkApiError(operation, error);
      }
      if (failure.status === 429 || failure.code === larkRateLimitCode) {
        platformRateLimited.inc({ platform: 'lark', operation });
      } else {
        platformErrors.inc({ platform: 'lark', operation });
      }
      if (!failure.retryable || attempt >= attempts) throw failure;
      const delay = this.options.retryDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      this.options.logger.warn({ operation, attempt, status: failure.status, code: failure.code }, 'Lark call retried');
      await sleep(delay);
    }
  }

  /** The bot's own open_id (`GET /open-apis/bot/v3/info`); also proves the credentials work. */
  async botOpenId(): Promise<string> {
    const body = await this.call('bot info', () =>
      this.client.request<LarkBody & { bot?: { open_id?: string } }>({ method: 'GET', url: '/open-apis/bot/v3/info' }),
    );
    const openId = body.bot?.open_id;
    if (openId === undefined || openId === '') throw new LarkApiError('bot info', false, 200, 0, 'no bot.open_id');
    return openId;
  }

  /** Downloads a user's image from a message (`im.v1.messageResource.get`, type image). */
  async downloadImage(messageId: string, fileKey: string, signal?: AbortSignal): Promise<Uint8Array> {
    const operation = 'image download';
    if (!isLarkResourceKey(messageId) || !isLarkResourceKey(fileKey)) {
      // Never sent: a crafted key (`../../om_OTHER/resources/img_x`) would fetch another message's resource.
      const refused = new LarkApiError(operation, false, undefined, undefined, 'malformed message id or file key');
      throw Object.assign(refused, { key: 'image_unreadable' });
    }
    const resource = await this.call(operation, async () => ({
      code: 0,
      resource: await this.client.im.v1.messageResource.get({
        // The SDK puts path parameters into the URL as they are.
        path: { message_id: encodeURIComponent(messageId), file_key: encodeURIComponent(fileKey) },
        params: { type: 'image' },
      }),
    })).catch((error: unknown) => {
      // A refused download (deleted message, no permission) will not get better: the user hears about it at once.
      if (error instanceof LarkApiError && !error.retryable) throw Object.assign(error, { key: 'image_unreadable' });
      throw error;
    });
    const stream = resource.resource.getReadableStream() as Readable;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      signal?.throwIfAborted();
      size += (chunk as Buffer).byteLength;
      if (size > this.options.maxImageBytes) {
        stream.destroy();
        throw Object.assign(new Error('image too large'), { key: 'image_too_large' });
      }
      chunks.push(chunk as Buffer);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  /** The image key of a message (an image, or the first picture of a post), for replies quoting a picture. */
  async messageImageKey(messageId: string): Promise<string | undefined> {
    const body = await this.call(
      'message get',
      () => this.client.im.v1.message.get({ path: { message_id: messageId } }) as Promise<LarkBody & MessageGetData>,
      1,
    );
    const item = body.data?.items?.[0];
    if (item?.body?.content === undefined) return undefined;
    const content = JSON.parse(item.body.content) as Record<string, unknown>;
    if (item.msg_type === 'image' && typeof content['image_key'] === 'string') return content['image_key'];
    const match = /"image_key"\s*:\s*"([^"]+)"/.exec(item.body.content);
    return item.msg_type === 'post' ? match?.[1] : undefined;
  }

  /** Replies to a message (inside its thread when it is in one); `uuid` makes a retried send land once. */
  async reply(
    messageId: string,
    msgType: 'text' | 'interactive' | 'post',
    content: string,
    uuid: string,
    inThread = false,
  ): Promise<string> {
    const body = await this.call('message reply', () =>
      this.client.im.v1.message.reply({
        path: { message_id: messageId },
        data: { msg_type: msgType, content, uuid, ...(inThread ? { reply_in_thread: true } : {}) },
      }),
    );
    return body.data?.message_id ?? '';
  }

  /** Creates a CardKit card entity from card JSON 2.0; returns its card_id. */
  async createCard(card: unknown): Promise<string> {
    const body = await this.call(
      'card create',
      () => this.client.cardkit.v1.card.create({ data: { type: 'card_json', data: JSON.stringify(card) } }),
      2,
    );
    const cardId = body.data?.card_id;
    if (cardId === undefined) throw new LarkApiError('card create', false, 200, 0, 'no card_id');
    return cardId;
  }

  /** Streams the full text of a card's markdown element (`sequence` strictly increasing per card). */
  async streamCardText(cardId: string, elementId: string, content: string, sequence: number, attempts?: number) {
    await this.call(
      'card stream',
      () =>
        this.client.cardkit.v1.cardElement.content({
          path: { card_id: cardId, element_id: elementId },
          data: { content, sequence },
        }),
      attempts,
    );
  }

  /** Ends a card's streaming mode. */
  async closeCard(cardId: string, sequence: number): Promise<void> {
    await this.call('card close', () =>
      this.client.cardkit.v1.card.settings({
        path: { card_id: cardId },
        data: { settings: JSON.stringify({ config: { streaming_mode: false } }), sequence },
      }),
    );
  }
}

interface MessageGetData {
  data?: { items?: Array<{ msg_type?: string; body?: { content?: string } }> };
}
