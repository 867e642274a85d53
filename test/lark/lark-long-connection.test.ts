import { describe, expect, it } from 'vitest';
import { replacementDelayMs } from '../../adapters/lark/ws.ts';
import { platformConnected, platformReconnects } from '../../src/observability/metrics.ts';
import { type MessageEventInput, messageEvent } from '../support/fake-lark/lark-events.ts';
import { answerTo, pause, useLarkStack, user } from './lark-harness.ts';

/** Every failure below must be over within this long: detection, backoff (≤ 2 × 400 ms) and a new connection. */
const reconnectBoundMs = 6000;

/** A p2p text message of `chatId`. */
const text = (chatId: string, words: string, fields: Partial<MessageEventInput> = {}) =>
  messageEvent({
    chatId,
    chatType: 'p2p',
    sender: user('gina'),
    messageType: 'text',
    content: { text: words },
    ...fields,
  });

/** The value of a metric series (0 when absent). */
async function metricValue(
  metric: typeof platformConnected | typeof platformReconnects,
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  const found = values.find((value) => {
    const seriesLabels: Record<string, string | number | undefined> = value.labels;
    return Object.entries(labels).every(([key, wanted]) => seriesLabels[key] === wanted);
  });
  return found?.value ?? 0;
}

// The long connection's two ways to die quietly: the SDK's WSClient stops for good when the endpoint answers
// "system busy" (or the connection limit, or 403) during a reconnect, and it never notices a connection that stays
// open but answers nothing. The adapter replaces the client in both cases; the event pushed during the gap is
// re-pushed by the platform on the new connection and answered once.
describe('Lark long connection liveness (real SDK WSClient against the fake platform)', () => {
  const log: string[] = [];
  const stack = useLarkStack({
    appId: 'cli_a1b2c3d4e5f60019',
    appSecret: 'secret-liveness',
    settings: { MAX_NEW_TOKENS: 8 },
    // The platform's own settings, short: ping every second.
    lark: { pingTimeoutMs: 400, reconnectBaseMs: 200, reconnectMaxMs: 400, reconnectStallMs: 3000 },
    log,
  });
  const { fake } = stack;
  fake.clientConfig = { PingInterval: 1, ReconnectCount: -1, ReconnectInterval: 1, ReconnectNonce: 0 };
  const lines = () => log.map((line) => JSON.parse(line) as Record<string, unknown>);

  /** Waits for the gap to end and the event pushed in it to be answered exactly once. */
  const expectAnsweredOnceAfterGap = async (event: ReturnType<typeof text>, since: number) => {
    await fake.waitFor(() => stack.adapter.connected && fake.connections === 1, reconnectBoundMs, 'the reconnect');
    expect(Date.now() - since).toBeLessThan(reconnectBoundMs);
    const messageId = event.event.message.message_id;
    const answer = await answerTo(fake, messageId);
    await pause(500);
    expect(answer.messages).toHaveLength(1);
    expect(fake.repliesTo(messageId)).toHaveLength(1);
    expect(stack.model.calls.filter((call) => call.request.requestId === `lark-${messageId}`)).toHaveLength(1);
    expect(await metricValue(platformConnected, { platform: 'lark' })).toBe(1);
  };

  it('starts connected', async () => {
    expect(stack.adapter.connected).toBe(true);
    const event = text('oc_live_0', 'hello');
    fake.pushEvent(event);
    expect((await answerTo(fake, event.event.message.message_id)).messages).toHaveLength(1);
  });

  it('replaces the client when the endpoint answers "system busy" during a reconnect (the SDK gives up)', async () => {
    const replacedBefore = await metricValue(platformReconnects, { platform: 'lark', reason: 'gave_up' });
    fake.endpointFailures.push({ code: 1, msg: 'system busy' });
    const since = Date.now();
    fake.dropConnections();
    await fake.waitFor(() => fake.endpointFailuresAnswered === 1, reconnectBoundMs, 'the busy endpoint');
    expect(stack.adapter.connected).toBe(false);
    expect(await metricValue(platformConnected, { platform: 'lark' })).toBe(0);
    const event = text('oc_live_busy', 'are you there after the busy endpoint?');
    fake.pushEvent(event);
    await expectAnsweredOnceAfterGap(event, since);
    expect(await metricValue(platformReconnects, { platform: 'lark', reason: 'gave_up' })).toBe(replacedBefore + 1);
    expect(lines().some((line) => String(line['msg']).includes('system busy') && line['reason'] === 'gave_up')).toBe(
      true,
    );
    const restored = lines().filter((line) => String(line['msg']).startsWith('Lark long connection restored'));
    expect(restored).toHaveLength(1);
    expect(restored[0]?.['gapMs']).toBeGreaterThan(0);
  });

  it('ends a connection that went silent (no pongs) and reconnects', async () => {
    const opened = fake.connectionsOpened;
    const since = Date.now();
    fake.silence();
    const event = text('oc_live_silent', 'are you there after the silence?');
    fake.pushEvent(event);
    const lost = () => lines().filter((line) => String(line['msg']).startsWith('Lark long connection lost')).length;
    // The gap is short here (the new connection opens at once): the log shows it was noticed.
    await fake.waitFor(() => lost() === 2, reconnectBoundMs, 'the silent connection noticed');
    await expectAnsweredOnceAfterGap(event, since);
    expect(fake.connectionsOpened).toBeGreaterThan(opened);
    expect(lines().filter((line) => String(line['msg']).startsWith('Lark long connection restored'))).toHaveLength(2);
  });

  it('answers the events of a gap, pushed back to back, in the order they were sent', async () => {
    // The first one quotes a message, so its receiving looks the parent up (slowly); the second must still wait.
    fake.slowDown({ path: /^\/open-apis\/im\/v1\/messages\/om_parent_[^/]+$/, delayMs: 600 });
    fake.dropConnections();
    const first = text('oc_live_order', 'first, quoting an old message', { parentId: 'om_parent_1' });
    const second = text('oc_live_order', 'second');
    fake.pushEvent(first);
    fake.pushEvent(second);
    const ids = [first, second].map((event) => event.event.message.message_id);
    await Promise.all(ids.map((id) => answerTo(fake, id)));
    fake.slowDown(undefined);
    const generated = stack.model.calls.map((call) => call.request.requestId);
    expect(ids.map((id) => generated.indexOf(`lark-${id}`))).toEqual(
      [...ids.map((id) => generated.indexOf(`lark-${id}`))].sort((a, b) => a - b),
    );
    const [firstReply, secondReply] = ids.map((id) => fake.repliesTo(id)[0]?.at ?? 0);
    expect(firstReply).toBeLessThan(secondReply ?? 0);
  });

  it('logs each state change once, with no stack trace and no secret', () => {
    if (process.env['SHOW_LOG']) console.log(log.join(''));
    const lost = lines().filter((line) => String(line['msg']).startsWith('Lark long connection lost'));
    expect(lost).toHaveLength(3);
    expect(log.join('\n')).not.toMatch(/\n\s+at /);
    expect(log.join('\n')).not.toContain('"stack"');
    expect(log.join('\n')).not.toContain('secret-liveness');
  });
});

// The first connection: upgrades refused, and with the platform's real `ReconnectInterval` (120 s) the SDK's next try
// would come two minutes later. Start goes on after its timeout (it used to throw "no Lark long connection after
// 30000 ms" and take the process down); the adapter replaces the stalled client and connects within the bound.
describe('Lark long connection refused for longer than the start timeout', () => {
  const connectTimeoutMs = 800;
  const stallMs = 2000;
  const log: string[] = [];
  const stack = useLarkStack({
    appId: 'cli_a1b2c3d4e5f60020',
    appSecret: 'secret-refused',
    settings: { MAX_NEW_TOKENS: 8 },
    lark: { connectTimeoutMs, reconnectStallMs: stallMs, reconnectBaseMs: 200, reconnectMaxMs: 400 },
    log,
  });
  const { fake } = stack;
  fake.clientConfig = { PingInterval: 120, ReconnectCount: -1, ReconnectInterval: 120, ReconnectNonce: 0 };
  fake.refuseUpgrades = 2;

  it('starts without a connection, says so once, and is connected within stall + backoff', async () => {
    const startedAt = Date.now();
    expect(stack.adapter.connected).toBe(false);
    expect(fake.upgradesRefused).toBe(2);
    const waiting = log.filter((line) => line.includes(`no Lark long connection after ${connectTimeoutMs} ms`));
    expect(waiting).toHaveLength(1);
    const event = text('oc_refused', 'pushed while the bot was not connected');
    fake.pushEvent(event);
    // Within the stall time, the largest backoff (2 × 200 ms) and a check interval (1 s) of the client's start.
    await fake.waitFor(() => stack.adapter.connected, stallMs + 400 + 1000 + 1000, 'the connection');
    expect(Date.now() - startedAt).toBeLessThan(stallMs + 2400);
    const messageId = event.event.message.message_id;
    expect((await answerTo(fake, messageId)).messages).toHaveLength(1);
    await pause(500);
    expect(fake.repliesTo(messageId)).toHaveLength(1);
    expect(log.some((line) => line.includes('"reason":"stalled"'))).toBe(true);
    expect(await metricValue(platformReconnects, { platform: 'lark', reason: 'stalled' })).toBeGreaterThanOrEqual(1);
    expect(log.join('\n')).not.toMatch(/\n\s+at /);
  });
});

describe('replacement backoff', () => {
  it('doubles from the base, is capped, and adds up to as much again of jitter', () => {
    const low = () => 0;
    const high = () => 0.999;
    expect([1, 2, 3, 4].map((attempt) => replacementDelayMs(attempt, 1000, 60_000, low))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(replacementDelayMs(30, 1000, 60_000, low)).toBe(60_000);
    expect(replacementDelayMs(30, 1000, 60_000, high)).toBeLessThan(120_000);
    expect(replacementDelayMs(1, 1000, 60_000, high)).toBeGreaterThan(1990);
  });
});
