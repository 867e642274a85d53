import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import type { ChatStack } from '../support/chat-stack/chat-stack.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

/**
 * Waits (at most `timeoutMs`) for a request that is streaming but not yet delivered, SIGKILLs the worker named in
 * its progress event and starts a replacement; returns the request id, or undefined when none was caught.
 */
async function killMidGeneration(stack: ChatStack, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const [requestId, progress] of stack.tracker.progress) {
      if (stack.tracker.delivered.has(requestId)) continue;
      if (progress.worker !== undefined && (await stack.workers.kill(progress.worker))) {
        stack.workers.spawn();
        return requestId;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

// Three worker processes answer six channels; twice, the worker that is streaming an answer is SIGKILLed and a new
// one started. Its job lock expires, another worker takes the channel's line over and answers the same head again.
describe('chaos: a worker SIGKILLed mid-generation', () => {
  const chaos = useChatStack({ workers: 3 });

  it('answers every message once, in order, with an exact conversation, after two workers die', {
    timeout: 150_000,
  }, async () => {
    const { stack } = chaos;
    const channels = chatChannels(6, 1);
    const sending = sendRounds(stack, channels, 5, 100);
    const killed = [await killMidGeneration(stack, 20_000)];
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the second death while the first is recovered from
    killed.push(await killMidGeneration(stack, 20_000));
    await sending;

    const report = await settleAndVerify(stack, 'worker SIGKILL', 60_000);
    console.log(`  killed mid-generation: ${killed.join(', ')}`);
    expect(killed.every((requestId) => requestId !== undefined)).toBe(true);
    expect(stack.workers.all.filter((child) => child.signalCode === 'SIGKILL')).toHaveLength(2);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
    await stack.workers.waitUntilRegistered(stack.pipeline.queues.requests, 3, 30_000);
  });
});
