import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { type PrivateRedisServer, startPrivateRedisServer } from '../../src/redis/private-redis-server.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
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
});
