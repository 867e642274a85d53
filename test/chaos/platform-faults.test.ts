import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

const discordMessages = /^\/channels\/\d+\/messages$/;
const discordMessage = /^\/channels\/\d+\/messages\/\d+$/;
const larkReply = /^\/open-apis\/im\/v1\/messages\/[^/]+\/reply$/;
const larkResource = /^\/open-apis\/im\/v1\/messages\/[^/]+\/resources\/[^/]+$/;
const larkRateLimited = { code: 99991400, msg: 'request trigger frequency limit' };
const larkServerError = { code: 1, msg: 'internal error' };

// The platforms misbehave while answers go out and pictures come in: 429s, 5xx (some after the call was carried out,
// so only the response was lost), and requests that hang past the client's timeout. Every fault is transient except
// two pictures that are gone for good, which must be answered with the "image unreadable" error and nothing else.
describe('chaos: platform 429 / 5xx / timeouts on sending replies and downloading images', () => {
  const chaos = useChatStack({ workers: 2 });

  it('answers every message once, in order, with an exact conversation, through every fault', async () => {
    const { stack } = chaos;
    const { discord, lark } = stack;
    discord.fail({ method: 'POST', path: discordMessages, status: 429, times: 2, retryAfter: 0.5 });
    discord.fail({ method: 'POST', path: discordMessages, status: 500, afterProcessing: true });
    discord.fail({ method: 'POST', path: discordMessages, status: 'hang', afterProcessing: true });
    discord.fail({ method: 'PATCH', path: discordMessage, status: 502, times: 2 });
    discord.fail({ method: 'GET', path: /^\/attachments\//, status: 503, times: 2 });
    discord.fail({ method: 'GET', path: /^\/attachments\//, status: 'hang' });
    lark.injections.push(
      { method: 'POST', path: larkReply, status: 200, body: larkRateLimited, times: 2 },
      { method: 'POST', path: larkReply, status: 500, body: larkServerError, times: 1, afterCommit: true },
      { method: 'POST', path: larkReply, status: 500, body: larkServerError, times: 1, afterCommit: true, hang: true },
      { method: 'GET', path: larkResource, status: 500, body: larkServerError, times: 2 },
      { method: 'GET', path: larkResource, status: 500, body: larkServerError, times: 1, hang: true },
    );
    const channels = chatChannels(6, 3);
    await sendRounds(stack, channels, 2, 100);
    // Two pictures that are gone for good: a Discord attachment the CDN does not have, a Lark image not in its message.
    const gone = [channels[0], channels[5]].map((channel) => {
      if (channel === undefined) throw new Error('six channels expected');
      return stack.send(channel, { text: 'What is in this picture?', picture: 'missing' });
    });
    await sendRounds(stack, channels, 1, 100, 2);

    const report = await settleAndVerify(stack, 'platform faults', 90_000);
    expectConsistent(report);
    expect(report.errorReplies).toEqual(new Map(gone.map((entry) => [entry.requestId, 'image_unreadable'])));
    // The faults were all met (none left over), and the hung requests were given up and sent again.
    expect(lark.injections.filter((injection) => injection.times > 0)).toEqual([]);
    expect(discord.faultsLeft).toBe(0);
  });
});
