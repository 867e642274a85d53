import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { requestIdFor } from '../../src/contracts/platform.ts';
import type { ChatChannel, ChatInput } from '../support/chat-stack/chat-messages.ts';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { messageEvent, newMessageId, postWebhookEvent } from '../support/fake-lark/lark-events.ts';
import { chaosMessage, expectConsistent, settleAndVerify, useChatStack } from './support/chaos-run.ts';

const webhook = { encryptKey: 'chaos-encrypt-key', verificationToken: 'chaos-verification-token' };

/** A free local port (the webhook adapters take turns on it, as pods behind one Service). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * Lark's webhook delivery: POSTs the event until an answer is 200, retrying after a failure (no answer: a dead
 * adapter, a refused connection) the way Lark does, on a compressed schedule (every 3 s instead of 15 s, 5 min, ...).
 * Resolves with how many POSTs it took.
 */
async function deliverWithRetries(url: string, event: unknown, deadlineMs: number): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    const status = await postWebhookEvent(url, event, webhook).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return attempt;
    if (Date.now() > deadlineMs) throw new Error(`the webhook never answered 200 (last ${status})`);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

/** Waits until the webhook answers (the adapter process is up). */
async function untilListening(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(url, { method: 'POST', body: '{}' }).then(
      () => true,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error('the Lark webhook adapter never listened');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// `adapter lark` in webhook mode answers Lark's POST only once the event is received (receipt and line in Redis);
// Lark retries an event that got no 200. The adapter process is SIGKILLed while events are being posted every 60 ms
// (a POST being handled then gets no answer; the next ones find the port closed), a new one starts on the same
// address, and Lark's retries reach it: every message answered once, in order.
describe('chaos: a Lark webhook-mode adapter SIGKILLed with events in flight', () => {
  const chaos = useChatStack({ workers: 2, larkReplicas: 0 });

  it("answers Lark's retries once, in order", { timeout: 120_000 }, async () => {
    const { stack } = chaos;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/lark/events`;
    const processes = stack.larkWebhookAdapterProcesses(port, webhook);
    const old: ChildProcess = processes.spawn();
    await untilListening(url);
    const channels: ChatChannel[] = chatChannels(8, 4).filter((channel) => channel.platform === 'lark');
    const deliveries: Array<Promise<number>> = [];
    const deadline = Date.now() + 90_000;
    const send = async (channel: ChatChannel, input: ChatInput) => {
      const messageId = newMessageId();
      const event = messageEvent({
        messageId,
        chatId: channel.id,
        chatType: 'p2p',
        sender: { openId: channel.user.id, name: channel.user.name },
        messageType: 'text',
        content: { text: input.text },
        verificationToken: webhook.verificationToken,
        appId: 'cli_0123456789abcdef',
      });
      stack.sent.push({ requestId: requestIdFor('lark', messageId), channel, messageId, at: performance.now() });
      // One chat's events are sent one after another (Lark retries an event before the chat's next one is answered
      // only out of order, which the adapter cannot put right).
      const previous = chains.get(channel.id) ?? Promise.resolve(0);
      const delivered = previous.then(() => deliverWithRetries(url, event, deadline));
      chains.set(channel.id, delivered);
      deliveries.push(delivered);
    };
    const chains = new Map<string, Promise<number>>();
    let killedAfter = 0;
    for (let round = 0; round < 6; round += 1) {
      for (const [index, channel] of channels.entries()) {
        await send(channel, { text: (await chaosMessage(index, round)).text });
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      if (round === 2) {
        killedAfter = stack.sent.length;
        const exited = new Promise((resolve) => old.once('exit', resolve));
        old.kill('SIGKILL');
        await exited;
      }
    }
    // A replacement process on the same address (a new pod behind the Service); Lark's retries reach it.
    processes.spawn();
    const attempts = await Promise.all(deliveries);

    const report = await settleAndVerify(stack, 'Lark webhook adapter SIGKILL', 60_000);
    const retried = attempts.filter((count) => count > 1).length;
    console.log(
      `  ${stack.sent.length - killedAfter} events posted after the SIGKILL; ${retried} needed Lark's retries`,
    );
    expect(retried).toBeGreaterThan(0);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
