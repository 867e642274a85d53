import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import type { ChatStack } from '../support/chat-stack/chat-stack.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

/**
 * Waits until `worker` streams an answer (its progress event, not yet delivered) or `timeoutMs` passed. Waiting for
 * any worker's stream is not enough: with 4 workers the old one may be between answers while the new ones stream.
 */
async function untilStreaming(stack: ChatStack, worker: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const [requestId, progress] of stack.tracker.progress) {
      if (progress.worker === worker && !stack.tracker.delivered.has(requestId)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * SIGTERMs `old` while it streams; its exit code and the requests it was streaming then (those not finished within
 * the grace period are handed back).
 */
async function stopWhileStreaming(
  stack: ChatStack,
  old: ChildProcess,
): Promise<{ name: string; code: number | null; streaming: string[] }> {
  const name = `worker-${old.pid}`;
  await untilStreaming(stack, name, 10_000);
  const streaming = [...stack.tracker.progress]
    .filter(([requestId, progress]) => progress.worker === name && !stack.tracker.delivered.has(requestId))
    .map(([requestId]) => requestId);
  const exited = new Promise<number | null>((resolve) => old.once('exit', (code) => resolve(code)));
  old.kill('SIGTERM');
  return { name, code: await exited, streaming };
}

// A rolling upgrade of both workers while 8 channels (Discord and Lark) stream answers: the new workers start, then
// each old one gets SIGTERM while it streams. It takes no new job and lets its generations run for SHUTDOWN_GRACE_MS
// (0 here: every answer it streams is handed back at once; `test/ops/graceful-shutdown.test.ts` has one finishing
// within the grace); a handed-back answer starts again on another worker and its Discord message or Lark card is
// edited from the start: never a second message, never a half answer left standing.
describe('chaos: a rolling upgrade of the workers while answers stream', () => {
  const chaos = useChatStack({ workers: 2, workerEnvironment: { SHUTDOWN_GRACE_MS: '0' } });

  it('answers every message once, in order, with whole answers', { timeout: 120_000 }, async () => {
    const { stack } = chaos;
    const [first, second] = stack.workers.running();
    if (first === undefined || second === undefined) throw new Error('two workers should be running');
    // The new version's workers start first (a surge of two), then the old ones stop while answers stream.
    stack.workers.spawn();
    stack.workers.spawn();
    await stack.workers.waitUntilRegistered(stack.pipeline.queues.requests, 4, 60_000);
    const channels = chatChannels(8, 3);
    const sending = sendRounds(stack, channels, 6, 100);
    const stopped = [await stopWhileStreaming(stack, first)];
    stopped.push(await stopWhileStreaming(stack, second));
    await sending;

    const report = await settleAndVerify(stack, 'worker rolling upgrade', 60_000);
    // A request the old worker was streaming whose last progress came from another worker was handed back.
    const handedBack = stopped.flatMap(({ name, streaming }) =>
      streaming.filter((requestId) => stack.tracker.progress.get(requestId)?.worker !== name),
    );
    console.log(
      `  old workers exited with ${stopped.map(({ code }) => code).join(', ')} after SIGTERM; streaming then: ` +
        `${stopped.map(({ streaming }) => streaming.length).join(', ')}; finished on another worker: ${handedBack.length}`,
    );
    expect(stopped.map(({ code }) => code)).toEqual([0, 0]);
    expect(stopped.some(({ streaming }) => streaming.length > 0)).toBe(true);
    expect(stack.workers.running()).toHaveLength(2);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
