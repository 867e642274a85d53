import { describe, expect, it } from 'vitest';
import { ProgressThrottle } from '../../src/pipeline/throttle-progress.ts';
import { RedisKeys } from '../../src/redis/redis-keys.ts';
import { ChannelLine } from '../../src/store/channel-line.ts';
import { ContextStore } from '../../src/store/context-store.ts';
import type { ContextTurn } from '../../src/store/context-turn.ts';
import { ImageStore, ImageTooLargeForStoreError } from '../../src/store/image-store.ts';
import { ReceiptStore } from '../../src/store/receipt-store.ts';
import { RedisEmbeddingCache } from '../../src/store/redis-embedding-cache.ts';
import { useTestRedis } from '../support/redis.ts';

const turn = (requestId: string, role: 'user' | 'assistant', text: string): ContextTurn => ({
  requestId,
  role,
  text,
  language: 'en',
  at: new Date().toISOString(),
});

describe('Redis stores', () => {
  const redis = useTestRedis();
  const keys = new RedisKeys(redis.prefix);

  it('context: appends once per request, keeps the last turns, fits the token budget, expires, resets', async () => {
    const store = new ContextStore(redis.connection, keys, { ttlSeconds: 100, maxTurns: 4, maxTokens: 1000 });
    for (let index = 0; index < 3; index += 1) {
      const appended = await store.append('web:ctx', `web-r${index}`, [
        turn(`web-r${index}`, 'user', `q${index}`),
        turn(`web-r${index}`, 'assistant', `a${index}`),
      ]);
      expect(appended.appended).toBe(true);
      expect(appended.stored.map((item) => item.text)).toEqual([`q${index}`, `a${index}`]);
    }
    // A second append of a request stores nothing and hands back the request's turns as the first one stored them.
    const again = await store.append('web:ctx', 'web-r2', [turn('web-r2', 'user', 'again')]);
    expect({ appended: again.appended, texts: again.stored.map((item) => item.text) }).toEqual({
      appended: false,
      texts: ['q2', 'a2'],
    });
    // ...and none once they were trimmed away (here: four turns kept, r0's are gone).
    const trimmed = await store.append('web:ctx', 'web-r0', [turn('web-r0', 'user', 'again')]);
    expect({ appended: trimmed.appended, stored: trimmed.stored }).toEqual({ appended: false, stored: [] });
    expect((await store.load('web:ctx')).map((item) => item.text)).toEqual(['q1', 'a1', 'q2', 'a2']);
    const ttl = await redis.connection.ttl(keys.context('web:ctx'));
    expect(ttl).toBeGreaterThan(90);
    const tight = new ContextStore(redis.connection, keys, { ttlSeconds: 100, maxTurns: 4, maxTokens: 3 });
    await tight.append('web:tight', 'web-t1', [turn('web-t1', 'user', '一二'), turn('web-t1', 'assistant', '三')]);
    await tight.append('web:tight', 'web-t2', [turn('web-t2', 'user', '四五')]);
    expect((await tight.load('web:tight')).map((item) => item.text)).toEqual(['三', '四五']);
    await store.reset('web:ctx');
    expect(await store.load('web:ctx')).toEqual([]);
    expect((await store.append('web:ctx', 'web-r2', [turn('web-r2', 'user', 'after reset')])).appended).toBe(true);
  });

  it('images: stored with a TTL and a size cap', async () => {
    const store = new ImageStore(redis.connection, keys, { ttlSeconds: 50, maxBytes: 10 });
    const sha = 'a'.repeat(64);
    await store.put(sha, new Uint8Array([1, 2, 3]));
    expect(await store.get(sha)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await redis.connection.ttl(keys.image(sha))).toBeGreaterThan(40);
    await expect(store.put(sha, new Uint8Array(11))).rejects.toBeInstanceOf(ImageTooLargeForStoreError);
    expect(await store.get('b'.repeat(64))).toBeUndefined();
  });

  it('embeddings: float32 vectors round-trip by model id and sha256', async () => {
    const cache = new RedisEmbeddingCache(redis.connection, keys, 60);
    const vectors = Float32Array.from({ length: 32 * 8 }, (_, index) => index / 7 - 3);
    await cache.set('model-a', 'c'.repeat(64), vectors);
    expect(await cache.get('model-a', 'c'.repeat(64))).toEqual(vectors);
    expect(await cache.get('model-b', 'c'.repeat(64))).toBeUndefined();
  });

  it('attempts: each start of a generation counts once, and the count expires with the line', async () => {
    const line = new ChannelLine(redis.connection, keys, 120);
    expect([
      await line.countAttempt('web-a1'),
      await line.countAttempt('web-a1'),
      await line.countAttempt('web-a1'),
    ]).toEqual([1, 2, 3]);
    expect(await line.countAttempt('web-a2')).toBe(1);
    const ttl = await redis.connection.ttl(keys.attempts('web-a1'));
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
  });

  it('receipts: the first delivery wins, with a TTL of at least 8 hours', async () => {
    const receipts = new ReceiptStore(redis.connection, keys, 28_800);
    expect(await receipts.markReceived('lark-om_1')).toBe(true);
    expect(await receipts.markReceived('lark-om_1')).toBe(false);
    expect(await redis.connection.ttl(keys.received('lark-om_1'))).toBeGreaterThan(28_000);
  });
});

describe('progress throttle', () => {
  it('sends the first value at once, then at most one per interval, always the latest', async () => {
    const sent: Array<[number, string]> = [];
    const start = Date.now();
    const throttle = new ProgressThrottle<string>(100, async (value) => {
      sent.push([Date.now() - start, value]);
    });
    throttle.offer('a');
    throttle.offer('ab');
    throttle.offer('abc');
    await new Promise((resolve) => setTimeout(resolve, 150));
    throttle.offer('abcd');
    await throttle.stop();
    expect(sent.map(([, value]) => value)).toEqual(['a', 'abc']);
    expect(sent[1]?.[0]).toBeGreaterThanOrEqual(95);
  });
});
