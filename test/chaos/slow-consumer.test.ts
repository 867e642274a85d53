import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

const delayMs = 2500;

// Both platforms take 2.5 s to answer every call that shows an answer (Discord message creates and edits, Lark
// replies and card updates) while messages keep arriving: answers queue up behind the slow platform.
describe('chaos: a slow consumer (the platform answers sends slowly)', () => {
  const chaos = useChatStack({ workers: 2 });

  it('answers every message once, in order, with an exact conversation, while the platform lags', async () => {
    const { stack } = chaos;
    stack.discord.slowDown({ path: /^\/channels\/\d+\/messages/, delayMs });
    stack.lark.slowDown({ path: /^\/open-apis\/(im\/v1\/messages\/[^/]+\/reply|cardkit\/)/, delayMs });
    await sendRounds(stack, chatChannels(6, 5), 4, 200);

    const report = await settleAndVerify(stack, 'slow consumer', 90_000);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
    // The platform really was slow: no answer reached it sooner than one delay after its message.
    const waits = stack.sent.map((entry) => (stack.tracker.delivered.get(entry.requestId) ?? 0) - entry.at);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(delayMs);
  });
});
