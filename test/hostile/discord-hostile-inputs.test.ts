import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { errorMessage } from '../../src/i18n/error-message.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { answerTo, type DiscordRig, person, startRig } from '../discord/discord-harness.ts';
import { EchoOrRealModel } from '../support/echo-or-real-model.ts';
import type { PostedMessage } from '../support/fake-discord/fake-discord.ts';
import { useTestRedis } from '../support/redis.ts';
import { solidPng } from '../support/test-images.ts';

const mallory = person('200000000000000066', 'mallory');

// Platform-specific hostile inputs on Discord (the real discord.js client against the fake Discord, real Redis and
// BullMQ): attachments pointing off Discord's CDN (cloud metadata, loopback services, other schemes, garbage URLs),
// CDN redirects to those places, and mass mentions the model might repeat. Nothing is fetched from outside the
// allowed origin, every refusal is a localized reply, nobody gets pinged, and the next message works.
describe('Discord: hostile attachments and mentions', () => {
  const redis = useTestRedis();
  let rig: DiscordRig;
  let trap: Server;
  let trapUrl: string;
  const trapHits: string[] = [];
  let png: Buffer;

  beforeAll(async () => {
    // A "private service" on loopback that must never be reached through the bot.
    trap = createServer((request, response) => {
      trapHits.push(request.url ?? '');
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(png);
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', () => resolve()));
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
    png = await solidPng(200, 30, 30);
    const inner = await ZiyaChatModel.load(inject('tinyModelDir'), { executionProvider: 'cpu', threads: 1 });
    rig = await startRig(redis, { model: new EchoOrRealModel(inner), settings: { MAX_NEW_TOKENS: 4 } });
  });
  afterAll(async () => {
    await rig?.close();
    await new Promise<void>((resolve) => trap?.close(() => resolve()));
  });

  async function answered(channelId: string, messageId: string): Promise<PostedMessage> {
    await rig.discord.waitFor(
      () => (answerTo(rig.discord, channelId, messageId)[0]?.content ?? '') !== '',
      30_000,
      `answer to ${messageId}`,
    );
    const answers = answerTo(rig.discord, channelId, messageId);
    expect(answers).toHaveLength(1);
    return answers[0] as PostedMessage;
  }

  const offCdn: Array<[string, () => string]> = [
    ['cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'],
    ['a loopback service on another port', () => `${trapUrl}/secret.png`],
    ['a file: URL', () => 'file:///etc/passwd'],
    ['a garbage URL', () => 'not a url at all'],
    ['an IPv6 loopback URL', () => 'http://[::1]:6379/'],
  ];
  for (const [index, [what, url]] of offCdn.entries()) {
    it(`refuses an attachment on ${what} without fetching it`, async () => {
      const channel = `10000000000000070${index}`;
      const id = rig.discord.sendMessage({
        channelId: channel,
        author: mallory,
        content: 'what is this?',
        attachments: [{ url: url(), filename: 'x.png', contentType: 'image/png', size: 100 }],
      });
      expect((await answered(channel, id)).content).toBe(errorMessage('en', 'image_unreadable'));
      expect(rig.model.callOf(`discord-${id}`)).toBeUndefined();
      expect(trapHits).toEqual([]);
    });
  }

  const redirects: Array<[string, () => string]> = [
    ['a loopback service on another port', () => `${trapUrl}/internal.png`],
    ['cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a file: URL', () => 'file:///etc/shadow'],
  ];
  for (const [index, [what, target]] of redirects.entries()) {
    it(`refuses a CDN redirect to ${what}`, async () => {
      const channel = `10000000000000071${index}`;
      const name = `redirect-${index}.png`;
      const url = rig.discord.serveFile(name, png, 'image/png', target());
      const id = rig.discord.sendMessage({
        channelId: channel,
        author: mallory,
        content: 'what is this?',
        attachments: [{ url, filename: name, contentType: 'image/png', size: png.byteLength }],
      });
      expect((await answered(channel, id)).content).toBe(errorMessage('en', 'image_unreadable'));
      expect(rig.discord.requests.filter((request) => request.path === `/attachments/${name}`).length).toBeGreaterThan(
        0,
      );
      expect(trapHits).toEqual([]);
    });
  }

  it('an answer that repeats @everyone, @here and a role mention pings nobody', async () => {
    const channel = '100000000000000720';
    const id = rig.discord.sendMessage({
      channelId: channel,
      author: mallory,
      content: 'echo: @everyone @here <@&100000000000000041> <@200000000000000001> free nitro',
    });
    const answer = await answered(channel, id);
    expect(answer.content).not.toMatch(/@(everyone|here)\b/);
    expect(answer.content).toContain('@\u200beveryone');
    const creates = rig.discord.requests.filter(
      (request) => request.method === 'POST' && request.path === `/api/v10/channels/${channel}/messages`,
    );
    expect(creates.length).toBeGreaterThan(0);
    for (const request of creates) {
      const body = request.body as { allowed_mentions?: { parse?: string[]; roles?: string[]; users?: string[] } };
      expect(body.allowed_mentions?.parse).toEqual([]);
      expect(body.allowed_mentions?.roles ?? []).toEqual([]);
      expect(body.allowed_mentions?.users ?? []).toEqual([]);
    }
  });

  it('an answer with a disguised link shows its real target; honest links, lists and code stay (issue 18, finding 7)', async () => {
    const channel = '100000000000000725';
    const id = rig.discord.sendMessage({
      channelId: channel,
      author: mallory,
      content:
        'echo: Claim [https://discord.com/nitro](https://evil.example/claim) or [**discord.com/gift**](<https://evil.example/g>)\n- see [the docs](https://discord.com/developers)\n`[https://a.example](https://b.example)`',
    });
    const answer = await answered(channel, id);
    const bodies = rig.discord.requests
      .filter((request) => request.path.startsWith(`/api/v10/channels/${channel}/messages`))
      .map((request) => String((request.body as { content?: string } | undefined)?.content ?? ''));
    expect(bodies.length).toBeGreaterThan(0);
    for (const content of [...bodies, answer.content]) {
      expect(content).not.toMatch(/\]\(<?https:\/\/evil\.example/);
    }
    expect(answer.content).toContain('Claim https://discord.com/nitro (https://evil.example/claim)');
    expect(answer.content).toContain('**discord.com/gift** (https://evil.example/g)');
    expect(answer.content).toContain('- see [the docs](https://discord.com/developers)');
    expect(answer.content).toContain('`[https://a.example](https://b.example)`');
  });

  it('answers an ordinary picture question afterwards', async () => {
    const channel = '100000000000000730';
    const url = rig.discord.serveFile('fine.png', png);
    const id = rig.discord.sendMessage({
      channelId: channel,
      author: mallory,
      content: 'what colour is this?',
      attachments: [{ url, filename: 'fine.png', contentType: 'image/png', size: png.byteLength }],
    });
    const answer = await answered(channel, id);
    expect(answer.content).not.toBe(errorMessage('en', 'image_unreadable'));
    expect(rig.model.callOf(`discord-${id}`)?.request.image).toBeDefined();
  });
});
