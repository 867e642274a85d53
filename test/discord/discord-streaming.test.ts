import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatModel, ChatModelRequest, ChatModelResult } from '../../src/model/chat-model.ts';
import { FakeChatModel } from '../support/fake-chat-model.ts';
import { useTestRedis } from '../support/redis.ts';
import { answerTo, type DiscordRig, ids, person, startRig } from './discord-harness.ts';

const dave = person('200000000000000004', 'dave');

/** The scripted model, but a question containing "slowly" waits 1.5 s before its first word (time for typing). */
class SlowStartModel implements ChatModel {
  readonly modelId = 'fake-model';
  readonly demo = false;
  constructor(private readonly inner: ChatModel) {}
  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    if (request.question.includes('shout')) {
      // An answer that tries to ping everyone and a user.
      const text = '@everyone and @here, look at <@200000000000000001>!';
      request.onText?.(text);
      const result = await this.inner.answer({ ...request, question: 'x' });
      return { ...result, text };
    }
    if (request.question.includes('slowly')) await new Promise((resolve) => setTimeout(resolve, 1500));
    return await this.inner.answer(request);
  }
  async close(): Promise<void> {}
}

// Streaming and splitting need answers far longer than the tiny model's: the scripted FakeChatModel (a test double
// for the model only) streams ~3000 characters, one word every few milliseconds; discord.js, Redis and BullMQ are real.
describe('Discord adapter: streaming edits and long answers', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  beforeAll(async () => {
    rig = await startRig(redis, {
      model: new SlowStartModel(
        new FakeChatModel({ stepMs: 5, words: (question) => (question.includes('slowly') ? 3 : 650) }),
      ),
      settings: { MAX_NEW_TOKENS: 1000 },
      tuning: { typingIntervalMs: 300 },
    });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('edits one reply about once per second, rolls over before 2000 characters, and ends with the whole answer', async () => {
    const start = Date.now();
    const id = rig.discord.sendMessage({ channelId: ids.dm, author: dave, content: 'tell me a long story' });
    await rig.discord.waitFor(() => rig.model.callOf(`discord-${id}`)?.result !== undefined, 30_000, 'the model');
    const fullText = rig.model.callOf(`discord-${id}`)?.result?.text ?? '';
    expect(fullText.length).toBeGreaterThan(2500);
    // The final delivery: the parts, in order, hold the whole answer.
    await rig.discord.waitFor(
      () =>
        rig.discord
          .postedIn(ids.dm)
          .map((message) => message.content)
          .join(' ') === fullText,
      30_000,
      'the final answer',
    );
    const parts = rig.discord.postedIn(ids.dm);
    expect(parts.length).toBe(2);
    expect(parts[0]?.body['message_reference']).toMatchObject({ message_id: id });
    for (const part of parts) expect(part.content.length).toBeLessThanOrEqual(2000);
    expect(rig.discord.requests.filter((request) => request.status === 400)).toEqual([]);

    // Streaming: the first part was created early and edited while the model was still writing.
    const generationMs = Date.now() - start;
    const first = parts[0];
    expect(first?.edits.length).toBeGreaterThanOrEqual(2);
    const streamingEdits = (first?.edits ?? []).slice(0, -1); // the last edit may be the final delivery's
    const times = [first?.createdAt ?? 0, ...streamingEdits.map((edit) => edit.at)];
    for (let index = 1; index < times.length; index += 1) {
      expect((times[index] ?? 0) - (times[index - 1] ?? 0)).toBeGreaterThanOrEqual(900);
    }
    const messageWrites = rig.discord.requests.filter(
      (request) => request.path.startsWith(`/api/v10/channels/${ids.dm}/messages`) && request.method !== 'GET',
    );
    // At most one streaming round per second (a rollover round is an edit plus a create), plus the final edits.
    expect(messageWrites.length).toBeLessThanOrEqual(2 * Math.ceil(generationMs / 1000) + 3);
    expect(answerTo(rig.discord, ids.dm, id)).toHaveLength(1);
  });

  it('keeps the typing indicator up (renewed) until the first text shows', async () => {
    const channel = '100000000000000071';
    const sentAt = Date.now();
    const id = rig.discord.sendMessage({ channelId: channel, author: dave, content: 'answer slowly please' });
    await rig.discord.waitFor(() => answerTo(rig.discord, channel, id).length > 0, 30_000, 'the slow answer');
    const firstText = answerTo(rig.discord, channel, id)[0]?.createdAt ?? 0;
    const typing = rig.discord.typing.filter((entry) => entry.channelId === channel).map((entry) => entry.at);
    expect(typing.filter((at) => at >= sentAt && at <= firstText).length).toBeGreaterThanOrEqual(3);
    const countAtAnswer = typing.length;
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(rig.discord.typing.filter((entry) => entry.channelId === channel)).toHaveLength(countAtAnswer); // stopped
  });

  it('shows typing once per channel however many of its questions wait (one renewal per interval, not one each)', async () => {
    const channel = '100000000000000072';
    const sentAt = Date.now();
    const messages = [0, 1, 2, 3, 4].map((index) =>
      rig.discord.sendMessage({ channelId: channel, author: dave, content: `answer slowly, question ${index}` }),
    );
    const last = messages.at(-1) ?? '';
    await rig.discord.waitFor(() => answerTo(rig.discord, channel, last).length > 0, 30_000, 'the last answer');
    const doneAt = Date.now();
    const typing = rig.discord.typing.filter((entry) => entry.channelId === channel);
    // Five questions answered one after another over several seconds, each starting 1.5 s late: typing was renewed
    // about once per 300 ms interval for the channel (five indicators would send five per interval).
    const intervals = (doneAt - sentAt) / 300;
    expect(typing.length).toBeGreaterThanOrEqual(3);
    expect(typing.length).toBeLessThanOrEqual(Math.ceil(intervals) + 2);
    for (const id of messages) expect(answerTo(rig.discord, channel, id)).toHaveLength(1);
  });

  it('/ask with a long answer: the deferred response is streamed, the rest goes to follow-ups', async () => {
    const { token, id } = rig.discord.sendCommand({
      name: 'ask',
      channelId: ids.general,
      guildId: ids.guild,
      user: dave,
      locale: 'en-US',
      options: [{ name: 'question', type: 3, value: 'a long story, please' }],
    });
    await rig.discord.waitFor(() => rig.model.callOf(`discord-${id}`)?.result !== undefined, 30_000, 'the model');
    const fullText = rig.model.callOf(`discord-${id}`)?.result?.text ?? '';
    const shown = () =>
      rig.discord.messages
        .filter((message) => message.interactionToken === token && !message.deleted)
        .map((message) => message.content)
        .join(' ');
    await rig.discord.waitFor(() => shown() === fullText, 30_000, 'the whole answer');
    const responses = rig.discord.messages.filter((message) => message.interactionToken === token);
    expect(responses.map((message) => message.via)).toEqual(['original', 'followup']);
    expect(responses[0]?.edits.length).toBeGreaterThanOrEqual(2);
    for (const response of responses) expect(response.content.length).toBeLessThanOrEqual(2000);
  });

  it('an answer that says @everyone, @here or <@user> pings nobody', async () => {
    const channel = '100000000000000072';
    const id = rig.discord.sendMessage({ channelId: channel, author: dave, content: 'shout something' });
    await rig.discord.waitFor(
      () => answerTo(rig.discord, channel, id)[0]?.content.startsWith('@\u200beveryone') === true,
      30_000,
      'the answer',
    );
    const writes = rig.discord.requests.filter(
      (request) => request.path.startsWith(`/api/v10/channels/${channel}/messages`) && request.method !== 'GET',
    );
    expect(writes.length).toBeGreaterThan(0);
    for (const write of writes) {
      const body = write.body as { content: string; allowed_mentions: unknown };
      expect(body.allowed_mentions).toEqual({ parse: [], replied_user: true });
      expect(body.content).not.toMatch(/@(everyone|here)/);
    }
  });
});
