import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { chatChannels } from '../support/chat-stack/chat-messages.ts';
import type { ChatStack } from '../support/chat-stack/chat-stack.ts';
import { expectConsistent, sendRounds, settleAndVerify, useChatStack } from './support/chaos-run.ts';

/** Waits until an adapter process has stored its gateway session (it takes events from then on). */
async function waitForStoredSession(stack: ChatStack, sessionsBefore: number): Promise<void> {
  const key = `${stack.pipeline.settings.QUEUE_PREFIX}:discord-sessions`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const sessions = Object.values(await stack.redis.hgetall(key)).map(
      (text) => (JSON.parse(text) as { sessionId: string }).sessionId,
    );
    if (sessions.length > 0 && stack.discord.identifies.length > sessionsBefore) return;
    if (Date.now() > deadline) throw new Error('the Discord adapter process never stored its gateway session');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until the fake Discord has posted `count` messages (answers are on their way). */
async function waitForPosts(stack: ChatStack, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (stack.discord.messages.length < count && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Stops an adapter process with `signal` and waits for it to exit. */
async function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

// The Discord adapter is the process every deploy restarts. It keeps its gateway session (id, last taken sequence,
// resume URL) in Redis; the next process RESUMEs it, so Discord replays every message sent while none was connected.
// The real discord.js client in `adapter discord` processes against the fake gateway, which keeps each session's
// events while its connection is down and replays them on RESUME.
describe('chaos: the Discord adapter process restarted while messages keep arriving', () => {
  const chaos = useChatStack({ workers: 2, larkReplicas: 0, discordInProcess: false });

  for (const [scenario, signal] of [
    ['SIGKILL, then a fresh process', 'SIGKILL'],
    ['rolling replace (SIGTERM, then a new process)', 'SIGTERM'],
  ] as const) {
    it(`answers every message once, in order: ${scenario}`, { timeout: 90_000 }, async () => {
      const { stack } = chaos;
      const processes = stack.discordAdapterProcesses(
        process.env['CHAOS_ADAPTER_OUTPUT'] === 'inherit' ? 'inherit' : 'ignore',
      );
      const identifiesBefore = stack.discord.identifies.length;
      const old = processes.spawn();
      await waitForStoredSession(stack, identifiesBefore);
      const tag = signal === 'SIGKILL' ? 1 : 2;
      const channels = chatChannels(8, tag).filter((channel) => channel.platform === 'discord');
      const sentBefore = stack.sent.length;
      const postedBefore = stack.discord.messages.length;
      const sending = sendRounds(stack, channels, 6, 120);
      await waitForPosts(stack, postedBefore + 1);
      await stop(old, signal);
      const sentWhileDown = stack.sent.length;
      // Messages keep arriving while no adapter is connected (Discord keeps them for the session).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const identifiesBeforeNew = stack.discord.identifies.length;
      const resumesBeforeNew = stack.discord.resumes.length;
      processes.spawn();
      await waitForStoredSession(stack, identifiesBeforeNew);
      await sending;

      const report = await settleAndVerify(stack, `Discord adapter ${scenario}`, 60_000);
      const resumed = stack.discord.resumes.slice(resumesBeforeNew);
      console.log(
        `  sent ${stack.sent.length - sentBefore}, ${stack.sent.length - sentWhileDown} of them after the ${signal}; ` +
          `RESUMEs ${resumed.length}, INVALID_SESSION ${stack.discord.invalidSessions}`,
      );
      expect(stack.sent.length - sentWhileDown).toBeGreaterThan(0);
      expect(resumed).toHaveLength(1);
      expect(stack.discord.invalidSessions).toBe(0);
      expectConsistent(report);
      expect(report.errorReplies).toEqual(new Map());
      await processes.stop();
    });
  }
});
