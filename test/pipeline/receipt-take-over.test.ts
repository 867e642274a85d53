import { describe, expect, it } from 'vitest';
import { receiveMessage } from '../../src/pipeline/receive-message.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { ReceiptStore } from '../../src/store/receipt-store.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

// A receiver killed between a message's receipt and its enqueue (a SIGKILLed adapter) must not turn the platform's
// redelivery into a "duplicate": that lost the message and stalled its channel's line for 10 minutes (found by the
// Discord adapter restart chaos scenario).
describe('receipts: a pending receipt whose receiver died is taken over', () => {
  const redis = useTestRedis();

  it('claims once, resends with the same token, drops live and settled duplicates, takes over a stale pending one', async () => {
    const receipts = new ReceiptStore(redis.connection, new RedisKeys(redis.prefix), 3600);
    const token = await receipts.claim('discord-1');
    expect(token).toBeDefined();
    // A redelivery while the first receiver is still at work is a duplicate.
    expect(await receipts.claim('discord-1')).toBeUndefined();
    expect(await receipts.isTaken('discord-1')).toBe(true);
    // Left pending longer than the take-over time: the receiver died; the redelivery receives it.
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await receipts.isTaken('discord-1', 50)).toBe(false);
    const takenOver = await receipts.claim('discord-1', 50);
    expect(takenOver).toBeDefined();
    expect(takenOver).not.toBe(token);
    // The dead receiver's settle changes nothing; the new one's makes every later redelivery a duplicate.
    await receipts.settle('discord-1', token as string);
    expect(await redis.connection.get(`${redis.prefix}:seen:discord-1`)).toMatch(/^pending:/);
    await receipts.settle('discord-1', takenOver as string);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await receipts.isTaken('discord-1', 50)).toBe(true);
    expect(await receipts.claim('discord-1', 50)).toBeUndefined();
    expect(await redis.connection.ttl(`${redis.prefix}:seen:discord-1`)).toBeGreaterThan(3000);
  });

  it('receives a redelivered message whose first receiver died after its receipt', async () => {
    const pipeline = testPipeline(redis.connection, redis.prefix);
    const message = {
      platform: 'discord' as const,
      platformMessageId: '1234567890',
      channelKey: 'discord:555',
      replyTarget: { channelId: '555', messageId: '1234567890' },
      user: { id: 'u1', name: 'User' },
      text: 'hello',
      attachments: [],
      adapterInstance: 'discord-test',
    };
    // A live receiver that settles while the redelivery waits: the redelivery is a duplicate.
    const live = await pipeline.receipts.claim('discord-1234567890');
    setTimeout(() => void pipeline.receipts.settle('discord-1234567890', live as string), 300);
    expect((await receiveMessage(pipeline, message)).duplicate).toBe(true);
    await redis.connection.del(`${redis.prefix}:seen:discord-1234567890`);
    // The first receiver wrote the receipt and was killed before anything else; the redelivery comes at once (a
    // restarted Discord adapter RESUMEs within milliseconds): it waits for the receipt to go stale and receives it.
    await pipeline.receipts.claim('discord-1234567890');
    const startedAt = Date.now();
    const redelivered = await receiveMessage(pipeline, message);
    expect(redelivered.duplicate).toBe(false);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1900);
    expect(await pipeline.line.entry('discord-1234567890')).toBeDefined();
    // Received now: the next redelivery is a duplicate again, at once.
    expect((await receiveMessage(pipeline, message)).duplicate).toBe(true);
    await pipeline.queues.close();
  });
});
