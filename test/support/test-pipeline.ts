import type { Worker } from 'bullmq';
import pino from 'pino';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import {
  createPipelineContext,
  type PipelineContext,
  type PipelineSettings,
} from '../../src/pipeline/pipeline-context.ts';
import { type ReceiveResult, receiveMessage } from '../../src/pipeline/receive-message.ts';

/** Pipeline settings for tests: small limits and a short job lock so take-overs happen within seconds. */
export function testSettings(prefix: string, overrides: Partial<PipelineSettings> = {}): PipelineSettings {
  return {
    QUEUE_PREFIX: prefix,
    CONTEXT_TTL_SECONDS: 600,
    CONTEXT_MAX_TURNS: 20,
    CONTEXT_MAX_TOKENS: 1024,
    IMAGE_MAX_BYTES: 2 * 1024 * 1024,
    IMAGE_MAX_PIXELS: 40_000_000,
    IMAGE_TTL_SECONDS: 600,
    TEXT_MAX_CHARACTERS: 4000,
    MAX_NEW_TOKENS: 16,
    GENERATION_TIMEOUT_MS: 60_000,
    WORKER_BATCH_SIZE: 4,
    JOB_LOCK_MS: 30_000,
    DEDUPLICATION_TTL_SECONDS: 28_800,
    PROGRESS_INTERVAL_MS: 300,
    // Off unless a test is about them: most tests send bursts into one channel.
    RATE_LIMIT_USER_PER_MINUTE: 0,
    RATE_LIMIT_CHANNEL_PER_MINUTE: 0,
    ...overrides,
  };
}

/** A pipeline context on a test connection, logging only errors. */
export function testPipeline(
  connection: PipelineContext['redis'],
  prefix: string,
  overrides: Partial<PipelineSettings> = {},
): PipelineContext {
  return createPipelineContext(
    connection,
    testSettings(prefix, overrides),
    pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'error' }),
  );
}

/** Collects delivered replies and lets a test wait for them. */
export class ReplyCollector {
  readonly replies: ChatReply[] = [];
  private waiters: Array<() => void> = [];

  /** The delivery function to hand to a delivery worker. */
  readonly deliver = async (reply: ChatReply): Promise<void> => {
    this.replies.push(reply);
    for (const wake of this.waiters.splice(0)) wake();
  };

  /** Waits until `predicate` holds over the replies so far. */
  async waitFor(predicate: (replies: readonly ChatReply[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.replies)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for replies (have ${this.replies.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** Closes workers, ignoring those already closed. */
export async function closeAll(workers: Array<{ close(): Promise<unknown> } | Worker>): Promise<void> {
  await Promise.all(workers.map((worker) => worker.close()));
}

/** Receives a text message in web channel `channel` from `user-<channel>` (platform message id `<channel>.<messageId>`). */
export function receiveWebText(
  pipeline: PipelineContext,
  channel: string,
  messageId: string,
  text: string,
  adapterInstance = 'test-adapter',
): Promise<ReceiveResult> {
  return receiveMessage(pipeline, {
    platform: 'web',
    platformMessageId: `${channel}.${messageId}`,
    channelKey: `web:${channel}`,
    replyTarget: { channel },
    user: { id: `user-${channel}`, name: 'User' },
    text,
    attachments: [],
    adapterInstance,
  });
}

/** Polls `predicate` every 20 ms until it holds; throws after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
