import pino from 'pino';
import { afterAll, beforeAll, expect } from 'vitest';
import type { PipelineSettings } from '../../../src/pipeline/pipeline-context.ts';
import type { ChatChannel, ChatInput, SentMessage } from '../../support/chat-stack/chat-messages.ts';
import { ChatStack, type ChatStackOptions } from '../../support/chat-stack/chat-stack.ts';
import type { VerifyReport } from '../../support/chat-stack/verify-answers.ts';
import { solidPng } from '../../support/test-images.ts';

/**
 * Settings of every chaos stack: tiny answers, streamed progress, a short job lock (a killed worker's job is taken
 * over within seconds), and a conversation store large enough to keep every turn of a scenario.
 */
const chaosSettings: Partial<PipelineSettings> = {
  MAX_NEW_TOKENS: 12,
  PROGRESS_INTERVAL_MS: 300,
  JOB_LOCK_MS: 3000,
  CONTEXT_MAX_TURNS: 1000,
  CONTEXT_MAX_TOKENS: 1_000_000,
};

/**
 * Starts a chat stack with the chaos settings (above) before the file's tests and stops it after them; platform
 * calls that hang are given up after 3 s, and `LOG_LEVEL` sets the adapters' log level (silent by default).
 */
export function useChatStack(options: Omit<ChatStackOptions, 'logger'>): { readonly stack: ChatStack } {
  const state: { stack?: ChatStack } = {};
  beforeAll(async () => {
    state.stack = await ChatStack.start({
      workerOutput: 'ignore',
      platformTimeoutMs: 3000,
      ...options,
      logger: pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }),
      settings: { ...chaosSettings, ...options.settings },
    });
  });
  afterAll(async () => await state.stack?.close());
  return {
    get stack(): ChatStack {
      if (state.stack === undefined) throw new Error('useChatStack(): the stack starts in beforeAll');
      return state.stack;
    },
  };
}

const questions = {
  en: ['What is in this picture?', 'Describe a quiet morning in one sentence.', 'What colour is it?'],
  zh: ['这张图片里有什么？', '请用一句话描述一个安静的早晨。', '它是什么颜色的？'],
};
let pictures: Buffer[] | undefined;

/** The `round`-th message of a channel: zh and en alternating, every third one with a picture. */
export async function chaosMessage(channelIndex: number, round: number): Promise<ChatInput> {
  pictures ??= [await solidPng(200, 40, 40), await solidPng(30, 160, 220), await solidPng(240, 220, 30)];
  const language = (channelIndex + round) % 2 === 0 ? 'en' : 'zh';
  const text = questions[language][round % 3] ?? '';
  return (channelIndex + round) % 3 === 0 ? { text, picture: pictures[round % pictures.length] as Buffer } : { text };
}

/** Sends `rounds` messages to every channel, round by round, `gapMs` apart; returns what was sent. */
export async function sendRounds(
  stack: ChatStack,
  channels: readonly ChatChannel[],
  rounds: number,
  gapMs: number,
  firstRound = 0,
): Promise<SentMessage[]> {
  const sent: SentMessage[] = [];
  for (let round = firstRound; round < firstRound + rounds; round += 1) {
    for (const [index, channel] of channels.entries()) {
      sent.push(stack.send(channel, await chaosMessage(index, round)));
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }
  return sent;
}

/**
 * Waits (at most `timeoutMs`) for every accepted message to be answered, lets late duplicates show up, checks the
 * answers and prints the scenario's figures.
 */
export async function settleAndVerify(stack: ChatStack, scenario: string, timeoutMs: number): Promise<VerifyReport> {
  const waitStarted = performance.now();
  const answered = await stack.waitForAnswers(timeoutMs);
  const waitedS = (performance.now() - waitStarted) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const report = await stack.verify();
  const channels = new Set(stack.sent.map((entry) => entry.channel.channelKey)).size;
  console.log(
    `chaos ${scenario}: ${stack.sent.length} messages, ${channels} channels — lost ${report.lost}, duplicated ` +
      `${report.duplicated}, out of order ${report.outOfOrder}, context errors ${report.contextErrors}, error replies ` +
      `${report.errorReplies.size}; ${answered ? `last answer ${waitedS.toFixed(1)} s after the last message` : `not all answered within ${timeoutMs} ms`}`,
  );
  for (const line of report.details) console.log(`  ${line}`);
  return report;
}

/** Asserts a clean run: nothing lost, duplicated or out of order, every stored conversation exact. */
export function expectConsistent(report: VerifyReport): void {
  expect(report.details).toEqual([]);
  expect({ lost: report.lost, duplicated: report.duplicated, outOfOrder: report.outOfOrder }).toEqual({
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
  });
  expect(report.contextErrors).toBe(0);
}
