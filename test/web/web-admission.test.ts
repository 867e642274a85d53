import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebAdapter, type WebAdapter } from '../../adapters/web/web-adapter.ts';
import type { PipelineContext } from '../../src/pipeline/pipeline-context.ts';
import { createRedisConnection } from '../../src/redis/redis-connection.ts';
import { useTestRedis } from '../support/redis.ts';
import { testPipeline } from '../support/test-pipeline.ts';

/** Keys under `prefix` and the bytes Redis says they use (MEMORY USAGE, values and overhead). */
async function footprint(connection: Redis, prefix: string): Promise<{ keys: number; bytes: number }> {
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, found] = await connection.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      keys += 1;
      bytes += Number((await connection.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
    }
  } while (cursor !== '0');
  return { keys, bytes };
}

const upload = randomBytes(1536 * 1024); // 1.5 MiB: under the 2 MiB image limit, so it is parked when admitted
const MiB = 1024 * 1024;

// A flood against the web API must not fill Redis (issue 18, finding 2): duplicates and rate-limited posts store
// nothing, so what a flood costs is bounded by what the rate limits admit. Real Redis, real BullMQ, real HTTP; no
// model worker (nothing is answered, so nothing admitted goes away behind the test's back but the ingest).
describe('web uploads are admitted before anything is stored', () => {
  const redis = useTestRedis();
  let pipeline: PipelineContext;
  let web: WebAdapter;
  const post = (body: Record<string, unknown>) =>
    fetch(`${web.url}/api/channels/flood/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    pipeline = testPipeline(redis.connection, redis.prefix, { RATE_LIMIT_USER_PER_MINUTE: 3 });
    web = await startWebAdapter(pipeline, { port: 0, eventsConnection: createRedisConnection(redis.url) });
  });
  afterAll(async () => {
    await web?.close();
    await pipeline?.queues.close();
  });

  it('30 posts of a 1.5 MiB upload with one clientMessageId park it once', async () => {
    const image = upload.toString('base64');
    const statuses: number[] = [];
    for (let index = 0; index < 30; index += 1) {
      statuses.push((await post({ text: 'what is this?', image, clientMessageId: 'same-upload' })).status);
    }
    expect(statuses[0]).toBe(202);
    expect(statuses.slice(1).every((status) => status === 200)).toBe(true); // duplicates
    const after = await footprint(redis.connection, redis.prefix);
    console.log(`after 30 duplicate 1.5 MiB uploads: ${after.keys} keys, ${(after.bytes / MiB).toFixed(2)} MiB`);
    // At most the one admitted upload (before ingest drops it) and its small bookkeeping; today's code kept 30.
    expect(after.bytes).toBeLessThan(upload.byteLength + 0.5 * MiB);
  });

  it('300 posts over the rate limit leave no receipts and no uploads behind', async () => {
    const before = await footprint(redis.connection, redis.prefix);
    const image = upload.toString('base64');
    const statuses: number[] = [];
    for (let index = 0; index < 300; index += 1) {
      const body =
        index % 10 === 0 ? { text: 'look', image, clientMessageId: `limited-${index}` } : { text: `hi ${index}` };
      statuses.push((await post(body)).status);
    }
    // 2 more admitted (3 a minute, one used above), 1 told to slow down, the rest refused with 429.
    expect(statuses.filter((status) => status === 202)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(297);
    const after = await footprint(redis.connection, redis.prefix);
    console.log(
      `300 posts over the limit: keys ${before.keys} → ${after.keys}, ${(before.bytes / MiB).toFixed(2)} → ${(after.bytes / MiB).toFixed(2)} MiB`,
    );
    expect(await redis.connection.keys(`${redis.prefix}:seen:*`)).toHaveLength(4); // one per admitted or notified message
    expect(after.keys - before.keys).toBeLessThan(20); // today's code: a seen: key per refused post (≈ 300)
    expect(after.bytes - before.bytes).toBeLessThan(upload.byteLength + 0.5 * MiB);
  });
});
