import { Client, DefaultCache } from '@larksuiteoapi/node-sdk';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardReplier } from '../../adapters/lark/card-replier.ts';
import { answerCard, cardEntityContent, replyUuid } from '../../adapters/lark/encode.ts';
import { LarkApi } from '../../adapters/lark/lark-api.ts';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import { FakeOpenPlatform } from '../support/fake-lark/fake-open-platform.ts';
import { useTestRedis } from '../support/redis.ts';
import { botOpenId, cardIdOf, visibleText } from './lark-harness.ts';

// The replica that received a message opens its streaming card (`creating` → `ready` in Redis). When it dies
// between the two, the replica delivering the final answer must finish the creation itself, on the same card and
// message (the reply's uuid is fixed), instead of waiting for a card that never becomes ready. A replica that dies
// while delivering the final answer leaves the reply job to a retry, which must finish the card whatever step the
// dead one reached.
describe('Lark: a streaming card whose creating or delivering replica died', () => {
  const redis = useTestRedis();
  const appId = 'cli_a1b2c3d4e5f6takeover';
  const fake = new FakeOpenPlatform({ appId, appSecret: 'secret-takeover', botOpenId });
  let api: LarkApi;
  let replier: CardReplier;
  let client: Client;
  const apiOptions = { attempts: 2, retryDelayMs: 10, maxImageBytes: 1 << 20, logger: pino({ level: 'silent' }) };
  const replierOn = (cardApi: LarkApi) =>
    new CardReplier(
      cardApi,
      redis.connection,
      redis.prefix,
      { updateIntervalMs: 100, maxCharacters: 6000, creationWaitMs: 300 },
      pino({ level: 'silent' }),
    );
  beforeAll(async () => {
    await fake.start();
    client = new Client({ appId, appSecret: 'secret-takeover', domain: fake.url, cache: new DefaultCache() });
    api = new LarkApi(client, apiOptions);
    replier = replierOn(api);
  });
  afterAll(async () => {
    await replier.close();
    await fake.close();
  });

  const reply = (requestId: string, messageId: string, text: string): ChatReply => ({
    version: 1,
    requestId,
    platform: 'lark',
    replyTarget: { messageId, chatId: 'oc_takeover' },
    text,
    language: 'en',
    finishReason: 'stop',
  });
  const cardKey = (requestId: string) => `${redis.prefix}:lark-card:${requestId}`;

  it('died before creating anything: the answer arrives in one new card, closed with the final text', async () => {
    await redis.connection.hset(cardKey('lark-om_t1'), 'state', 'creating');
    await replier.deliver(reply('lark-om_t1', 'om_t1', 'The final answer.'));
    const messages = fake.repliesTo('om_t1');
    expect(messages).toHaveLength(1);
    const card = fake.cards.get(cardIdOf(messages[0]!) ?? '');
    expect(card?.content).toBe('The final answer.');
    expect(card?.streaming).toBe(false);
    expect(await redis.connection.hget(cardKey('lark-om_t1'), 'state')).toBe('done');
  });

  it('died after posting its card: the same card and message get the final text, nothing is posted twice', async () => {
    // What the dead replica did: created a card, recorded it, replied with it (uuid card-0), and no more.
    const cardId = await api.createCard(answerCard('The fin', true));
    await redis.connection.hset(cardKey('lark-om_t2'), { state: 'creating', cardId });
    await api.reply('om_t2', 'interactive', cardEntityContent(cardId), replyUuid('lark-om_t2', 'card-0'), false);
    await replier.deliver(reply('lark-om_t2', 'om_t2', 'The final answer, in full.'));
    const messages = fake.repliesTo('om_t2');
    expect(messages).toHaveLength(1);
    expect(cardIdOf(messages[0]!)).toBe(cardId);
    expect(visibleText(fake, messages[0]!)).toBe('The final answer, in full.');
    expect(fake.cards.get(cardId)?.streaming).toBe(false);
  });

  /** The API of a replica that dies (its delivery stops) right after `step` reached Lark. */
  class DyingAfter extends LarkApi {
    constructor(private readonly step: 'closeCard' | 'streamCardText') {
      super(client, apiOptions);
    }
    override async closeCard(cardId: string, sequence: number): Promise<void> {
      await super.closeCard(cardId, sequence);
      if (this.step === 'closeCard') throw new Error('the replica died');
    }
    override async streamCardText(...args: Parameters<LarkApi['streamCardText']>): Promise<void> {
      await super.streamCardText(...args);
      if (this.step === 'streamCardText' && args[2].includes('final')) throw new Error('the replica died');
    }
  }

  for (const step of ['streamCardText', 'closeCard'] as const) {
    it(`died delivering, right after its ${step}: the retry finishes the same card, posts nothing twice`, async () => {
      const requestId = `lark-om_${step}`;
      const messageId = `om_${step}`;
      // The answer streamed into a card that the receiving replica opened (the card is ready).
      const cardId = await api.createCard(answerCard('The fin', true));
      await api.reply(messageId, 'interactive', cardEntityContent(cardId), replyUuid(requestId, 'card-0'), false);
      await redis.connection.hset(cardKey(requestId), { state: 'ready', cardId });
      const dying = replierOn(new DyingAfter(step));
      await expect(dying.deliver(reply(requestId, messageId, 'The final answer.'))).rejects.toThrow('died');
      // BullMQ hands the reply job to another replica.
      await replierOn(api).deliver(reply(requestId, messageId, 'The final answer.'));
      const messages = fake.repliesTo(messageId);
      expect(messages).toHaveLength(1);
      const card = fake.cards.get(cardIdOf(messages[0]!) ?? '');
      expect({ content: card?.content, streaming: card?.streaming, refused: card?.refused }).toEqual({
        content: 'The final answer.',
        streaming: false,
        refused: [],
      });
      expect(await redis.connection.hget(cardKey(requestId), 'state')).toBe('done');
    });
  }
});
