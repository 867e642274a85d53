import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { chaosMessage, expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

// Redis keeps an append-only file fsynced on every write. While answers stream, it is killed (SIGKILL) and later
// stopped cleanly, each time restarted on the same port and directory: every client (adapters, queue events, worker
// processes) reconnects to the same data. Messages keep arriving, a burst of them just as Redis goes down (the
// adapters are in the middle of receiving them). As Lark does, events whose handling failed (not acknowledged) are
// pushed again afterwards.
describe('chaos: Redis restarted mid-flight (AOF, appendfsync always)', () => {
  const chaos = useChatStack({ workers: 2, appendOnly: true });

  it('answers every message once, in order, with an exact conversation, across a crash and a clean restart', {
    timeout: 170_000,
  }, async () => {
    const { stack } = chaos;
    const channels = chatChannels(6, 2);
    const restarts: Array<{ how: 'crash' | 'clean'; streaming: number; downS: number; repushed: number }> = [];
    for (const [wave, how] of (['crash', 'clean'] as const).entries()) {
      const sending = sendRounds(stack, channels, 2, 80, wave * 2);
      // Restart once answers are streaming (at most 20 s later), with messages still being sent.
      const deadline = Date.now() + 20_000;
      const streamedBefore = stack.tracker.progress.size;
      while (stack.tracker.progress.size === streamedBefore && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const streamedAtRestart = stack.tracker.progress.size - streamedBefore;
      // A burst arrives just as Redis goes down: the adapters are receiving while it dies.
      for (const [index, channel] of channels.entries()) stack.send(channel, await chaosMessage(index, 10 + wave));
      await new Promise((resolve) => setTimeout(resolve, 15));
      const restartStarted = performance.now();
      await stack.redisServer.restart(how, 500);
      const downS = Number(((performance.now() - restartStarted) / 1000).toFixed(1));
      await sending;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const repushed = stack.lark.redeliverUnacked();
      restarts.push({ how, streaming: streamedAtRestart, downS, repushed });
    }
    await sendRounds(stack, channels, 1, 80, 4);

    const report = await settleAndVerify(stack, 'Redis restart', 60_000);
    console.log(`  restarts: ${JSON.stringify(restarts)}`);
    expect(restarts.map((restart) => restart.streaming > 0)).toEqual([true, true]);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
