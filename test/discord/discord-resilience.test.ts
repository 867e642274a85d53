import { Events } from 'discord.js';
import { describe, expect, it } from 'vitest';
import type { FaultRule } from '../support/fake-discord/fake-discord.ts';
import { answerTo, person, useRig } from './discord-harness.ts';

const erin = person('200000000000000005', 'erin');

// Failures on the way back: 429 with real rate-limit headers, 5xx (with and without the message having been created),
// and a gateway drop that resumes and replays. Every question is answered exactly once.
describe('Discord adapter: rate limits, server errors, RESUME', () => {
  const rig = useRig();

  /** Makes the fake fail message POSTs to `channel` as `failure` says. */
  const failPostsTo = (channel: string, failure: Omit<FaultRule, 'method' | 'path'>) =>
    rig.discord.fail({ method: 'POST', path: new RegExp(`^/channels/${channel}/messages$`), ...failure });
  /** The message POSTs to `channel` the fake received. */
  const postsTo = (channel: string) =>
    rig.discord.requests.filter((request) => request.path === `/api/v10/channels/${channel}/messages`);

  async function answeredOnce(channelId: string, messageId: string): Promise<void> {
    await rig.discord.waitFor(
      () => answerTo(rig.discord, channelId, messageId).length > 0,
      30_000,
      `answer to ${messageId}`,
    );
    await rig.discord.waitFor(() => rig.model.callOf(`discord-${messageId}`)?.result !== undefined, 30_000);
    // Give a duplicate every chance to show up: the delivery job and any stream edits are done well within this.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(answerTo(rig.discord, channelId, messageId)).toHaveLength(1);
    expect(rig.discord.postedIn(channelId)).toHaveLength(1);
  }

  it('waits out a 429 (retry-after, x-ratelimit-* headers) and posts once', async () => {
    const channel = '100000000000000061';
    failPostsTo(channel, { status: 429, retryAfter: 0.5 });
    const id = rig.discord.sendMessage({ channelId: channel, author: erin, content: 'rate limited?' });
    await answeredOnce(channel, id);
    const posts = postsTo(channel);
    expect(posts.map((request) => request.status)).toEqual([429, 200]);
  });

  it('a 500 whose message was created anyway: the retried create carries the same nonce and returns it', async () => {
    const channel = '100000000000000062';
    failPostsTo(channel, { status: 500, afterProcessing: true });
    const id = rig.discord.sendMessage({ channelId: channel, author: erin, content: 'lost response?' });
    await answeredOnce(channel, id);
    const posts = postsTo(channel);
    expect(posts.map((request) => request.status)).toEqual([500, 200]);
    const nonces = posts.map((request) => (request.body as { nonce?: string } | undefined)?.nonce);
    expect(nonces[0]).toBeDefined();
    expect(nonces[0]).toBe(nonces[1]);
  });

  it('5xx past the REST retries: the delivery job is retried by BullMQ and posts once', async () => {
    const channel = '100000000000000063';
    failPostsTo(channel, { status: 502, times: 8 });
    const id = rig.discord.sendMessage({ channelId: channel, author: erin, content: 'discord is down?' });
    await answeredOnce(channel, id);
    const statuses = postsTo(channel).map((request) => request.status);
    expect(statuses.filter((status) => status === 502)).toHaveLength(8);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
  });

  it('resumes after a gateway drop: a message sent meanwhile is replayed and answered, a re-sent one is not answered twice', async () => {
    const channel = '100000000000000064';
    const before = rig.discord.sendMessage({ channelId: channel, author: erin, content: 'before the drop' });
    await answeredOnce(channel, before);
    const resumed = new Promise<number>((resolve) =>
      rig.adapter.client.once(Events.ShardResume, (_id, replayed) => resolve(replayed)),
    );
    rig.discord.dropConnection(4000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const during = rig.discord.sendMessage({ channelId: channel, author: erin, content: 'while disconnected' });
    // At-least-once: the fake also replays the earlier message on RESUME.
    const resumesBefore = rig.discord.resumes.length;
    rig.discord.replayOnResume(1);
    expect(await resumed).toBeGreaterThanOrEqual(1);
    expect(rig.discord.resumes).toHaveLength(resumesBefore + 1);
    expect(rig.discord.identifies).toHaveLength(1); // resumed, not re-identified
    await rig.discord.waitFor(() => answerTo(rig.discord, channel, during).length > 0, 30_000, 'the replayed message');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(answerTo(rig.discord, channel, before)).toHaveLength(1);
    expect(answerTo(rig.discord, channel, during)).toHaveLength(1);
    expect(rig.model.calls.filter((call) => call.request.requestId === `discord-${before}`)).toHaveLength(1);
  });
});
