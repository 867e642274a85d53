import { describe, expect, it } from 'vitest';
import type { ChatReply } from '../../src/contracts/chat-reply.ts';
import { renderReply } from '../../src/pipeline/render-reply.ts';
import { replyJobId } from '../../src/queue/pipeline-queues.ts';
import { useChatStack } from './support/chaos-run.ts';

const dmChannel = '310000000000000001';
const asker = { id: '410000000000000001', username: 'asker' };

// A /ask slash command is deferred at once (Discord wants a first answer within 3 s) and answered by editing that
// deferred response. Here the worker generating its answer is SIGKILLed mid-stream: its job lock expires, another
// worker answers the same request from the start, and the same deferred response is edited to the whole answer.
describe('chaos: a slash command in flight while its worker is SIGKILLed', () => {
  const chaos = useChatStack({ workers: 2, larkReplicas: 0, settings: { MAX_NEW_TOKENS: 32 } });

  it('is answered once, by editing its deferred response', { timeout: 90_000 }, async () => {
    const { stack } = chaos;
    const { id, token } = stack.discord.sendCommand({
      name: 'ask',
      channelId: dmChannel,
      user: asker,
      locale: 'en-US',
      options: [{ name: 'question', type: 3, value: 'Describe a quiet morning in one sentence.' }],
    });
    const requestId = `discord-${id}`;
    // SIGKILL the worker as soon as it streams this answer, and start a replacement.
    let killed: string | undefined;
    const deadline = Date.now() + 30_000;
    while (killed === undefined && Date.now() < deadline) {
      const worker = stack.tracker.progress.get(requestId)?.worker;
      if (worker !== undefined && (await stack.workers.kill(worker))) {
        killed = worker;
        stack.workers.spawn();
      } else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(killed, 'the worker streaming the answer was killed').toBeDefined();
    await stack.discord.waitFor(() => stack.tracker.delivered.has(requestId), 60_000, 'the answer after the kill');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // late duplicates would show up by now

    const reply = (await stack.pipeline.queues.repliesQueue('discord').getJob(replyJobId(requestId)))
      ?.data as ChatReply;
    const responses = stack.discord.messages.filter((message) => message.interactionToken === token);
    const callbacks = stack.discord.interactionCallbacks.filter((callback) => callback.id === id);
    const lost = stack.tracker.delivered.has(requestId) && responses.length > 0 ? 0 : 1;
    const duplicated =
      Math.max(0, (stack.tracker.deliveries.get(requestId) ?? 0) - 1) + Math.max(0, responses.length - 1);
    console.log(
      `chaos slash command, worker ${killed} SIGKILLed mid-stream: lost ${lost}, duplicated ${duplicated}, out of order 0` +
        ` (one command); deferred ${callbacks.length}, responses ${responses.map((message) => message.via).join(', ')}` +
        `, ${responses[0]?.edits.length ?? 0} edits, answered again by ${stack.tracker.progress.get(requestId)?.worker}`,
    );
    expect(callbacks).toHaveLength(1);
    expect(callbacks[0]?.body).toMatchObject({ type: 5 });
    expect(responses.map((message) => message.via)).toEqual(['original']);
    expect(
      stack.discord.messages.filter((message) => message.channelId === dmChannel && message.via === 'message'),
    ).toEqual([]);
    // The whole answer stands, not the half streamed before the kill.
    expect(responses[0]?.content).toBe(renderReply(reply, { demoNotice: true }));
    expect(stack.tracker.deliveries.get(requestId)).toBe(1);
  });
});
