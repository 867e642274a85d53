import type { ChatReply } from '../../../src/contracts/chat-reply.ts';
import type { PipelineContext } from '../../../src/pipeline/pipeline-context.ts';
import { replyJobId } from '../../../src/queue/pipeline-queues.ts';
import type { FakeDiscord } from '../fake-discord/fake-discord.ts';
import type { FakeOpenPlatform } from '../fake-lark/fake-open-platform.ts';
import type { ChatChannel, SentMessage } from './chat-messages.ts';

/** What {@link verifyAnswers} found; every count must be 0 for a healthy run. */
export interface VerifyReport {
  /** Messages with no answer on the platform, or whose reply job never completed. */
  lost: number;
  /** Messages answered more than once on the platform, or whose reply job completed more than once. */
  duplicated: number;
  /** Answers that appeared in their channel before the answer of a message accepted earlier. */
  outOfOrder: number;
  /** Channels whose stored conversation is not exactly one user+assistant pair per answered request, in order. */
  contextErrors: number;
  /** The error key of every message answered with an error reply. */
  errorReplies: Map<string, string>;
  /** One line per problem found. */
  details: string[];
}

/** Where to look: the platform fakes, Redis (through the pipeline), and what was sent, in accepted order. */
export interface VerifyInput {
  pipeline: PipelineContext;
  discord: FakeDiscord;
  lark: FakeOpenPlatform;
  /** Every message accepted, in the order it was first delivered to the bot. */
  sent: readonly SentMessage[];
  /** How many times each request's reply job completed (from the queue events). */
  deliveries: ReadonlyMap<string, number>;
}

const referencedId = (body: Record<string, unknown>): string =>
  (body['message_reference'] as { message_id?: string } | undefined)?.message_id ?? '';

/** The ids of the user messages the bot's answers in `channel` reply to, in the order the answers appeared. */
function answeredInOrder(input: VerifyInput, channel: ChatChannel, messageIds: ReadonlySet<string>): string[] {
  const answered =
    channel.platform === 'discord'
      ? input.discord.postedIn(channel.id).map((message) => referencedId(message.body))
      : input.lark.sent.map((message) => message.replyTo ?? '');
  return answered.filter((messageId) => messageIds.has(messageId));
}

/** The final reply of a request as the worker enqueued it (kept in the replies queue). */
async function replyOf(pipeline: PipelineContext, entry: SentMessage): Promise<ChatReply | undefined> {
  const job = await pipeline.queues.repliesQueue(entry.channel.platform).getJob(replyJobId(entry.requestId));
  return job?.data as ChatReply | undefined;
}

/**
 * Checks, from the platform side and from Redis, that every accepted message was answered exactly once, that each
 * channel's answers appeared in the order its messages were accepted, and that each channel's stored conversation
 * holds exactly one user+assistant pair per request answered without error, in that order, with the answer text.
 */
export async function verifyAnswers(input: VerifyInput): Promise<VerifyReport> {
  const report: VerifyReport = {
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    contextErrors: 0,
    errorReplies: new Map(),
    details: [],
  };
  const byChannel = new Map<string, SentMessage[]>();
  for (const entry of input.sent) {
    byChannel.set(entry.channel.channelKey, [...(byChannel.get(entry.channel.channelKey) ?? []), entry]);
  }
  for (const entries of byChannel.values()) {
    const channel = entries[0]?.channel as ChatChannel;
    const position = new Map(entries.map((entry, index) => [entry.messageId, index]));
    const answered = answeredInOrder(input, channel, new Set(position.keys()));
    const replies = new Map<string, ChatReply | undefined>();
    for (const entry of entries) {
      const reply = await replyOf(input.pipeline, entry);
      replies.set(entry.requestId, reply);
      const state = await input.pipeline.queues.repliesQueue(channel.platform).getJobState(replyJobId(entry.requestId));
      const answers = answered.filter((messageId) => messageId === entry.messageId).length;
      const deliveries = input.deliveries.get(entry.requestId) ?? 0;
      if (answers === 0 || state !== 'completed') {
        report.lost += 1;
        const job = await input.pipeline.queues.repliesQueue(channel.platform).getJob(replyJobId(entry.requestId));
        const why = job?.failedReason ? `, ${job.attemptsMade} attempts, last error: ${job.failedReason}` : '';
        report.details.push(`lost: ${entry.requestId} (${answers} answers, reply job ${state}${why})`);
      }
      if (answers > 1 || deliveries > 1) {
        report.duplicated += 1;
        report.details.push(`duplicated: ${entry.requestId} (${answers} answers, delivered ${deliveries} times)`);
      }
      if (reply?.error !== undefined) report.errorReplies.set(entry.requestId, reply.error);
    }
    let last = -1;
    for (const messageId of answered) {
      const index = position.get(messageId) ?? -1;
      if (index < last) {
        report.outOfOrder += 1;
        report.details.push(`out of order in ${channel.channelKey}: message #${index} answered after #${last}`);
      }
      last = Math.max(last, index);
    }
    const expected = entries.flatMap((entry) => {
      const reply = replies.get(entry.requestId);
      return reply === undefined || reply.error !== undefined
        ? []
        : [`${entry.requestId}/user`, `${entry.requestId}/assistant:${reply.text}`];
    });
    const turns = await input.pipeline.contexts.load(channel.channelKey);
    const stored = turns.map(
      (turn) => `${turn.requestId}/${turn.role}${turn.role === 'assistant' ? `:${turn.text}` : ''}`,
    );
    const firstDifference = expected.findIndex((turn, index) => stored[index] !== turn);
    if (firstDifference !== -1 || stored.length !== expected.length) {
      report.contextErrors += 1;
      const at = firstDifference === -1 ? expected.length : firstDifference;
      report.details.push(
        `context of ${channel.channelKey}: ${stored.length} turns stored, ${expected.length} expected; turn #${at} is ` +
          `${JSON.stringify(stored[at] ?? null)}, expected ${JSON.stringify(expected[at] ?? null)}`,
      );
    }
  }
  return report;
}
