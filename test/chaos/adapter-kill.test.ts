import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

// Two `adapter lark` processes share the chats (each has its own long connection). While Lark answers replies and
// card calls slowly (so answers are being posted), one adapter process is SIGKILLed: its posts in flight are taken
// over by the other after the job lock (3 s), its streaming cards are finished from their record in Redis, and the
// events it had not acknowledged are pushed again to the survivor, as Lark does.
describe('chaos: a Lark adapter process SIGKILLed mid-delivery', () => {
  const chaos = useChatStack({ workers: 2, larkReplicas: 0 });

  it('answers every message once, in order, with an exact conversation, after its adapter died', {
    timeout: 150_000,
  }, async () => {
    const { stack } = chaos;
    const adapters = await stack.spawnLarkAdapters(2);
    stack.lark.slowDown({ path: /^\/open-apis\/(im\/v1\/messages\/[^/]+\/reply|cardkit\/)/, delayMs: 1500 });
    const channels = chatChannels(8, 3).filter((channel) => channel.platform === 'lark');
    const sending = sendRounds(stack, channels, 4, 150);
    // Kill one adapter once answers are being posted (its slow calls are in flight).
    const deadline = Date.now() + 30_000;
    while (stack.lark.sent.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const postedBeforeKill = stack.lark.sent.length;
    const [victim] = adapters.running();
    if (victim === undefined) throw new Error('no adapter process is running');
    await adapters.killProcess(victim);
    await sending;
    // Lark pushes unacknowledged events again (the dead connection's included) to the connections still open.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const repushed = stack.lark.redeliverUnacked();
    await sendRounds(stack, channels, 1, 100, 4);

    const report = await settleAndVerify(stack, 'adapter SIGKILL', 90_000);
    console.log(`  posted before the kill: ${postedBeforeKill}, events pushed again: ${repushed}`);
    expect(postedBeforeKill).toBeGreaterThan(0);
    expect(adapters.running()).toHaveLength(1);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
