import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Progress } from '../../../src/contracts/channel-entry.ts';
import { repliesQueueName, requestsQueueName } from '../../../src/queue/queue-names.ts';
import { createRedisConnection } from '../../../src/redis/redis-connection.ts';

/**
 * Watches the pipeline from Redis as the adapters do: each request's first streamed text and its progress events
 * (which name the worker generating it), and each final reply the delivery workers completed (how often, and when).
 */
export class ReplyTracker {
  /** When (performance.now()) each request first streamed text. */
  readonly firstToken = new Map<string, number>();
  /** When each request's reply was first delivered. */
  readonly delivered = new Map<string, number>();
  /** How many times each request's reply job completed. */
  readonly deliveries = new Map<string, number>();
  /** The latest progress event of each request. */
  readonly progress = new Map<string, Progress>();
  private readonly events: QueueEvents[];
  private readonly connections: Redis[] = [];

  private constructor(redisUrl: string, prefix: string) {
    const open = (queue: string) => {
      const connection = createRedisConnection(redisUrl);
      this.connections.push(connection);
      return new QueueEvents(queue, { connection, prefix });
    };
    const progressEvents = open(requestsQueueName);
    progressEvents.on('progress', ({ data }) => {
      const progress = data as Progress;
      if (progress.requestId === undefined) return;
      if (!this.firstToken.has(progress.requestId)) this.firstToken.set(progress.requestId, performance.now());
      this.progress.set(progress.requestId, progress);
    });
    const replyEvents = (['discord', 'lark'] as const).map((platform) => {
      const events = open(repliesQueueName(platform));
      events.on('completed', ({ jobId }) => {
        const requestId = jobId.replace(/^reply-/, '');
        this.deliveries.set(requestId, (this.deliveries.get(requestId) ?? 0) + 1);
        if (!this.delivered.has(requestId)) this.delivered.set(requestId, performance.now());
      });
      return events;
    });
    this.events = [progressEvents, ...replyEvents];
    for (const events of this.events) events.on('error', () => {}); // reconnects by itself while Redis is away
  }

  /** Starts watching and resolves once every listener is ready. */
  static async start(redisUrl: string, prefix: string): Promise<ReplyTracker> {
    const tracker = new ReplyTracker(redisUrl, prefix);
    await Promise.all(tracker.events.map((events) => events.waitUntilReady()));
    return tracker;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    await Promise.all(this.events.map((events) => events.close()));
    for (const connection of this.connections) connection.disconnect();
  }
}
