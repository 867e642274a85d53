import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

/** How the long connection is cut, in turn. */
const cuts = ['drop', 'busy endpoint', 'silence'] as const;

// The Lark long connection is cut again and again while 20 messages arrive on 4 chats: dropped by the platform (the
// SDK reconnects itself), dropped with the endpoint answering "system busy" on the reconnect (the SDK gives up; the
// adapter starts a new client), and gone silent (no pongs; the SDK's ping timeout ends it). Lark keeps what it could
// not push, and re-pushes what was not acknowledged, on the next connection.
describe('chaos: the Lark long connection cut repeatedly', () => {
  const chaos = useChatStack({
    workers: 2,
    larkReplicas: 1,
    larkSettings: { pingTimeoutMs: 300, reconnectBaseMs: 100, reconnectMaxMs: 300, reconnectStallMs: 3000 },
  });

  it('answers every message once, in order, with an exact conversation', { timeout: 150_000 }, async () => {
    const { stack } = chaos;
    const { lark } = stack;
    // The platform's settings, short (the first reconnect brings them): ping every second, retry after one.
    lark.clientConfig = { PingInterval: 1, ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 0 };
    const channels = chatChannels(8, 19).filter((channel) => channel.platform === 'lark');
    let sendingDone = false;
    const done: string[] = [];
    const cutting = (async () => {
      for (let index = 0; !sendingDone; index += 1) {
        await new Promise((resolve) => setTimeout(resolve, 600));
        await lark.waitFor(() => lark.connections === 1, 15_000, 'the long connection back');
        const cut = cuts[index % cuts.length] ?? 'drop';
        if (cut === 'busy endpoint') lark.endpointFailures.push({ code: 1, msg: 'system busy' });
        if (cut === 'silence') lark.silence();
        else lark.dropConnections();
        done.push(cut);
      }
    })();
    await sendRounds(stack, channels, 5, 150);
    sendingDone = true;
    await cutting;
    await lark.waitFor(() => lark.connections === 1, 15_000, 'the last reconnect');

    const report = await settleAndVerify(stack, 'Lark long connection cuts', 60_000);
    console.log(
      `  cuts: ${done.length} (${cuts.map((cut) => `${done.filter((entry) => entry === cut).length} ${cut}`).join(', ')}); ` +
        `connections opened: ${lark.connectionsOpened}; events pushed more than once: ${[...lark.pushed.values()].filter((pushed) => pushed.pushes > 1).length}`,
    );
    expect(stack.sent).toHaveLength(20);
    expect(done.length).toBeGreaterThanOrEqual(3);
    expect(lark.endpointFailuresAnswered).toBeGreaterThanOrEqual(1);
    expect(lark.unacked()).toBe(0);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map());
  });
});
