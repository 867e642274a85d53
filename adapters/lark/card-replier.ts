import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Progress } from '../../src/contracts/channel-entry.ts';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { renderReply } from '../../src/pipeline/render-reply.ts';
import { ProgressThrottle } from '../../src/pipeline/throttle-progress.ts';
import {
  answerCard,
  answerElementId,
  cardEntityContent,
  cardMarkdown,
  inlineCardContent,
  replyUuid,
  splitAnswer,
  textContent,
} from './encode.ts';
import type { LarkApi } from './lark-api.ts';

/** Tuning of {@link CardReplier}. */
export interface CardReplierOptions {
  /** Minimum milliseconds between two updates of one card (CardKit allows 10 per second). @defaultValue 100 */
  updateIntervalMs: number;
  /** Most characters per card or text message. */
  maxCharacters: number;
  /** How long a final reply waits for a streaming card another replica is still creating. @defaultValue 15000 */
  creationWaitMs?: number;
}

// KEYS: the card hash. ARGV: this call's token, ttl seconds. 1 when this call may create the card: it set `creating`
// now, or did so before and this is the same command sent again after its reply was lost (a Redis crash).
const claimCreation = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'creating', 'creator', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
if state == 'creating' and redis.call('HGET', KEYS[1], 'creator') == ARGV[1] then return 1 end
return 0`;

// KEYS: the card hash. ARGV: the next state, the card's message id. Moves on from `creating` only (a late original
// replica must not take a finished card back to `ready`).
const leaveCreating = `
if redis.call('HGET', KEYS[1], 'state') ~= 'creating' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'messageId', ARGV[2]) end
return 1`;

/**
 * A request's reply state lives in Redis (`<prefix>:lark-card:<requestId>`, a hash) so that any adapter replica can
 * deliver the final answer into the card the receiving replica opened: `state` is `creating` → `ready` →
 * `finalizing` → `closing` (the final text is in) → `done`, or `failed` (no card permission: plain message) or
 * `plain` (the answer came before any streamed text). `seq` is the card's CardKit sequence, incremented in Redis so it is strictly increasing.
 */
export class CardReplier {
  private readonly streams = new Map<string, ProgressThrottle<string>>();

  constructor(
    private readonly api: LarkApi,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: CardReplierOptions,
    private readonly logger: Logger,
  ) {}

  private key(requestId: string): string {
    return `${this.prefix}:lark-card:${requestId}`;
  }

  /** A streamed partial answer of a request this replica received: opens or updates its streaming card. */
  onProgress(progress: Progress, messageId: string, inThread: boolean): void {
    let stream = this.streams.get(progress.requestId);
    if (stream === undefined) {
      stream = new ProgressThrottle<string>(this.options.updateIntervalMs, (text) =>
        this.stream(progress.requestId, messageId, inThread, text).catch((error: unknown) =>
          this.logger.warn({ requestId: progress.requestId, error: String(error) }, 'card update failed'),
        ),
      );
      this.streams.set(progress.requestId, stream);
      setTimeout(() => this.streams.delete(progress.requestId), 15 * 60_000).unref();
    }
    stream.offer(progress.text);
  }

  private clip(text: string): string {
    const characters = [...text];
    return characters.length <= this.options.maxCharacters
      ? text
      : `${characters.slice(0, this.options.maxCharacters - 1).join('')}…`;
  }

  private async stream(requestId: string, messageId: string, inThread: boolean, text: string): Promise<void> {
    const key = this.key(requestId);
    let state = await this.redis.hget(key, 'state');
    if (state === null) {
      if ((await this.redis.eval(claimCreation, 1, key, randomUUID(), 86_400)) === 1) {
        await this.openCard(requestId, messageId, inThread, text);
        return;
      }
      state = await this.redis.hget(key, 'state');
    }
    if (state !== 'ready') {
      if (state !== 'creating') this.streams.delete(requestId);
      return;
    }
    const cardId = (await this.redis.hget(key, 'cardId')) ?? '';
    const sequence = await this.redis.hincrby(key, 'seq', 1);
    // Checked after taking the sequence: a final update that starts later takes a larger one, so this update can
    // never overwrite the final text (CardKit refuses a sequence at or below one it has seen).
    if ((await this.redis.hget(key, 'state')) !== 'ready') return;
    await this.api.streamCardText(cardId, answerElementId, cardMarkdown(this.clip(text)), sequence, 1);
  }

  /**
   * Creates the streaming card and replies with it. Also run by the delivering replica when a creation stalled (its
   * replica died mid-way): the first card id recorded wins and the reply's uuid is fixed, so both end on one card
   * in one message, and the state only moves on from `creating`.
   */
  private async openCard(requestId: string, messageId: string, inThread: boolean, text: string): Promise<void> {
    const key = this.key(requestId);
    try {
      const created = await this.api.createCard(answerCard(this.clip(text), true));
      await this.redis.hsetnx(key, 'cardId', created);
      const cardId = (await this.redis.hget(key, 'cardId')) ?? created;
      const cardMessageId = await this.api.reply(
        messageId,
        'interactive',
        cardEntityContent(cardId),
        replyUuid(requestId, 'card-0'),
        inThread,
      );
      await this.redis.eval(leaveCreating, 1, key, 'ready', cardMessageId);
    } catch (error) {
      // Most often the app lacks the CardKit permission: the answer goes out as a plain message at the end.
      this.logger.warn({ requestId, error: String(error) }, 'no streaming card: the answer will be a plain message');
      await this.redis.eval(leaveCreating, 1, key, 'failed', '');
    }
  }

  /** Delivers a final reply: into the request's streaming card (closing it), else as plain text messages. */
  async deliver(reply: ChatReply): Promise<void> {
    const { requestId } = reply;
    const messageId = reply.replyTarget['messageId'];
    const inThread = reply.replyTarget['threadId'] !== undefined;
    if (messageId === undefined) throw new Error(`reply ${requestId} has no messageId in its replyTarget`);
    await this.streams.get(requestId)?.stop();
    this.streams.delete(requestId);
    const text = renderReply(reply, { demoNotice: true });
    const key = this.key(requestId);
    const deadline = Date.now() + (this.options.creationWaitMs ?? 15_000);
    for (;;) {
      const state = await this.redis.hget(key, 'state');
      if (state === null) {
        if ((await this.redis.hsetnx(key, 'state', 'plain')) === 1) await this.redis.expire(key, 86_400);
        continue;
      }
      if (state === 'creating') {
        if (Date.now() > deadline) {
          // The replica creating it died (or is stuck): finish the creation here, on the same card and message.
          this.logger.warn({ requestId }, 'taking over a streaming card whose creation stalled');
          await this.openCard(requestId, messageId, inThread, text);
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (state === 'ready' || state === 'finalizing' || state === 'closing' || state === 'done') {
        await this.finishCard(requestId, messageId, inThread, text, state);
      } else {
        await this.sendPlain(requestId, messageId, inThread, text);
      }
      return;
    }
  }

  private async finishCard(
    requestId: string,
    messageId: string,
    inThread: boolean,
    text: string,
    state: 'ready' | 'finalizing' | 'closing' | 'done',
  ): Promise<void> {
    const key = this.key(requestId);
    const parts = splitAnswer(text, this.options.maxCharacters);
    if (state !== 'done') {
      const cardId = (await this.redis.hget(key, 'cardId')) ?? '';
      // A replica that died after writing the final text may also have closed the card, and CardKit refuses text
      // into a closed card: once the text is in (`closing`), a retry only closes it (again).
      if (state !== 'closing') {
        await this.redis.hset(key, 'state', 'finalizing');
        await this.api.streamCardText(
          cardId,
          answerElementId,
          cardMarkdown(parts[0] ?? ''),
          await this.redis.hincrby(key, 'seq', 1),
        );
        await this.redis.hset(key, 'state', 'closing');
      }
      await this.api.closeCard(cardId, await this.redis.hincrby(key, 'seq', 1));
      await this.redis.hset(key, 'state', 'done');
    }
    for (const [index, part] of parts.entries()) {
      if (index === 0) continue;
      const uuid = replyUuid(requestId, `card-${index}`);
      await this.api.reply(messageId, 'interactive', inlineCardContent(part), uuid, inThread);
    }
  }

  private async sendPlain(requestId: string, messageId: string, inThread: boolean, text: string): Promise<void> {
    for (const [index, part] of splitAnswer(text, this.options.maxCharacters).entries()) {
      await this.api.reply(messageId, 'text', textContent(part), replyUuid(requestId, `text-${index}`), inThread);
    }
  }

  /** Stops the pending card updates. */
  async close(): Promise<void> {
    await Promise.all([...this.streams.values()].map((stream) => stream.stop()));
    this.streams.clear();
  }
}
