import { Client } from '@larksuiteoapi/node-sdk';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardReplier } from '../../adapters/lark/card-replier.ts';
import { LarkApi } from '../../adapters/lark/lark-api.ts';
import { HeldPictures } from '../../src/pipeline/held-pictures.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { type PrivateRedisServer, startPrivateRedisServer } from '../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { RateLimiter } from '../../src/store/rate-limiter.ts';
import { cardIdOf } from '../lark/lark-harness.ts';
import { FakeOpenPlatform, type SentMessage } from '../support/fake-lark/fake-open-platform.ts';
import { randomPrefix } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';
import { LostReplyProxy } from './support/lost-reply-proxy.ts';

// The narrowest form of "Redis crashed mid-flight": a command was carried out (and, with AOF, kept), but its reply
// never reached the client. ioredis reconnects and sends the unanswered command again. The receipt of a message's
// first delivery is such a command (`SET seen:<id> NX`): sent again, it finds its own key and must not make the
// first delivery look like a duplicate, or the message is dropped and, the platform's delivery being acknowledged,
// never answered.
describe('chaos: a Redis reply lost after the command was carried out', () => {
  let server: PrivateRedisServer;
  let proxy: LostReplyProxy;
  let pipeline: PipelineContext;

  beforeAll(async () => {
    server = await startPrivateRedisServer();
    proxy = await LostReplyProxy.start(server.port);
    pipeline = testPipeline(createRedisConnection(proxy.url), randomPrefix());
  });
  afterAll(async () => {
    await pipeline?.queues.close();
    pipeline?.redis.disconnect();
    await proxy?.close();
    await server?.stop();
  });

  const message = (id: string) => ({
    platform: 'discord' as const,
    platformMessageId: id,
    channelKey: `discord:14000000000000000${id.slice(-2)}`,
    replyTarget: { kind: 'message', channelId: `14000000000000000${id.slice(-2)}`, messageId: id },
    user: { id: '1300000000000000001', name: 'user' },
    text: 'What colour is it?',
    attachments: [],
    adapterInstance: 'chaos',
  });

  it('through the proxy, accepts a message once and drops its redelivery (the control case)', async () => {
    const first = message('1500000000000000011');
    expect((await receiveMessage(pipeline, first)).duplicate).toBe(false);
    expect((await receiveMessage(pipeline, first)).duplicate).toBe(true);
    expect(await pipeline.line.length(first.channelKey)).toBe(1);
  });

  it('still accepts a message whose receipt reply was lost (it is not a redelivery)', async () => {
    const first = message('1500000000000000012');
    const cut = proxy.loseReplyTo(`seen:discord-${first.platformMessageId}`);
    const result = await receiveMessage(pipeline, first);
    await cut;
    expect(result.duplicate).toBe(false);
    expect(await pipeline.line.length(first.channelKey)).toBe(1);
  });

  it('opens a Lark streaming card once when the reply of its creation claim was lost', async () => {
    const fake = new FakeOpenPlatform({ appId: 'cli_lostreply000001', appSecret: 'secret-lost', botOpenId: 'ou_bot' });
    await fake.start();
    const client = new Client({ appId: 'cli_lostreply000001', appSecret: 'secret-lost', domain: fake.url });
    const logger = pino({ level: 'silent' });
    const api = new LarkApi(client, { attempts: 2, retryDelayMs: 10, maxImageBytes: 1 << 20, logger });
    const options = { updateIntervalMs: 50, maxCharacters: 6000, creationWaitMs: 20_000 };
    const replier = new CardReplier(api, pipeline.redis, pipeline.keys.prefix, options, logger);
    try {
      const requestId = 'lark-om_lost1';
      // The claim (the first command that sets `creating`) is carried out, its reply lost, and sent again.
      const cut = proxy.loseReplyTo('creating');
      replier.onProgress(
        { version: 1, requestId, platform: 'lark', channelKey: 'lark:oc_lost', adapterInstance: 'a', text: 'The fi' },
        'om_lost1',
        false,
      );
      await cut;
      await fake.waitFor(() => fake.repliesTo('om_lost1').length === 1, 5000, 'the streaming card');
      // The final answer goes into that card at once (no wait for a creation nobody is doing).
      const started = Date.now();
      await replier.deliver({
        version: 1,
        requestId,
        platform: 'lark',
        replyTarget: { messageId: 'om_lost1', chatId: 'oc_lost' },
        text: 'The final answer.',
        language: 'en',
        finishReason: 'stop',
      });
      expect(Date.now() - started).toBeLessThan(5000);
      const messages = fake.repliesTo('om_lost1');
      expect(messages).toHaveLength(1);
      expect(fake.cards.get(cardIdOf(messages[0] as SentMessage) ?? '')?.content).toBe('The final answer.');
    } finally {
      await replier.close();
      await fake.close();
    }
  });

  it('holds a picture once when the reply of its SET was lost: it is not taken for a picture it replaced', async () => {
    const held = new HeldPictures(pipeline, 'discord', 60_000);
    const picture = {
      id: '1500000000000000021',
      attachments: [{ kind: 'url' as const, url: 'https://cdn.discordapp.com/attachments/1/2/a.png' }],
    };
    const cut = proxy.loseReplyTo('held:discord:1400000000000000021');
    const replaced = await held.hold('1400000000000000021:1300000000000000001', picture);
    await cut;
    expect(replaced).toBeUndefined();
    expect((await held.take('1400000000000000021:1300000000000000001'))?.id).toBe(picture.id);
  });

  it('admits a message once at the rate limit when the reply of its admission was lost', async () => {
    const limiter = new RateLimiter(pipeline.redis, pipeline.keys, {
      userPerWindow: 1,
      channelPerWindow: 0,
      windowMs: 60_000,
    });
    const cut = proxy.loseReplyTo('rate-user:discord:1300000000000000031');
    const first = await limiter.admit('discord:1300000000000000031', 'discord:1400000000000000031', 'discord-r1');
    await cut;
    expect(first).toEqual({ allowed: true });
    // The next message is over the limit and takes the notice, also when its own reply is lost.
    const cutAgain = proxy.loseReplyTo('rate-user:discord:1300000000000000031');
    const second = await limiter.admit('discord:1300000000000000031', 'discord:1400000000000000031', 'discord-r2');
    await cutAgain;
    expect(second).toEqual({ allowed: false, scope: 'user', notify: true });
  });
});
