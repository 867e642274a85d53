import { describe, expect, it } from 'vitest';
import type { SentMessage } from '../support/chat-stack/chat-messages.ts';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { chaosMessage, expectConsistent, settleAndVerify, useChatStack } from './support/chaos-run.ts';

// The platforms deliver at least once and not in order: Discord redispatches an earlier MESSAGE_CREATE after later
// ones and replays events on RESUME; Lark re-pushes events whose ack it lost after newer ones, and pushes one event
// to both long connections (two adapter replicas). Only the first delivery of a message may be answered.
describe('chaos: duplicate and out-of-order platform events', () => {
  const chaos = useChatStack({ workers: 2, larkReplicas: 2 });

  it('answers each message once, in the order it was first delivered, with an exact conversation', {
    timeout: 150_000,
  }, async () => {
    const { stack } = chaos;
    const { discord, lark } = stack;
    const channels = chatChannels(6, 4);
    // Each Lark chat stays on one connection (a chat's events are in order there); duplicates go to the other.
    const send = async (round: number): Promise<SentMessage[]> => {
      const sent: SentMessage[] = [];
      for (const [index, channel] of channels.entries()) {
        sent.push(stack.send(channel, await chaosMessage(index, round), index % 2));
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      return sent;
    };
    const larkFrames = (sent: SentMessage[]) => sent.flatMap((entry) => (entry.frameId === undefined ? [] : [entry]));

    // Rounds 0-1: Lark loses the acks, so it will push these events again later.
    lark.loseAcks = true;
    const early = [...(await send(0)), ...(await send(1))];
    const handled = (entry: SentMessage) => (lark.pushed.get(entry.frameId ?? '')?.ackCodes.length ?? 0) > 0;
    await lark.waitFor(() => larkFrames(early).every(handled), 30_000, 'the adapters to handle the early events');
    lark.loseAcks = false;

    // Rounds 2-3, each Lark event also pushed to the other connection at once.
    const later = [...(await send(2)), ...(await send(3))];
    for (const entry of larkFrames(later)) {
      const index = channels.indexOf(entry.channel);
      lark.repush(entry.frameId ?? '', (index + 1) % 2);
    }
    // Now the old events again, after the newer ones: Lark's redelivery of the unacked, Discord's redispatch.
    const repushed = lark.redeliverUnacked();
    for (const entry of early) if (entry.sequence !== undefined) discord.redispatch(entry.sequence);
    // A gateway drop: discord.js resumes, and the fake replays from the first event of round 1.
    const replayFrom = early.find((entry, index) => index >= channels.length && entry.sequence !== undefined);
    discord.replayOnResume((replayFrom?.sequence ?? 1) - 1);
    discord.dropConnection();
    await discord.waitFor(() => discord.resumes.length > 0, 30_000, 'the RESUME');
    await send(4);

    const report = await settleAndVerify(stack, 'duplicate events', 60_000);
    console.log(
      `  Lark re-pushed ${repushed} unacked events; Discord redispatched ${early.length / 2} and resumed once`,
    );
    expect(repushed).toBe(larkFrames(early).length);
    // Every duplicate reached an adapter and was acknowledged there (handled, not answered).
    for (const entry of larkFrames([...early, ...later])) {
      expect(lark.pushed.get(entry.frameId ?? '')?.ackCodes.filter((code) => code === 200)).toHaveLength(2);
    }
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
