import type { FakeOpenPlatform, SentMessage } from '../support/fake-lark/fake-open-platform.ts';
import type { EventMention, FakeUser } from '../support/fake-lark/lark-events.ts';

/** The bot's open_id on every fake platform. */
export const botOpenId = 'ou_bot0000000000000000000000000000';

/** The bot as a mention (`@_user_1`). */
export function botMention(key = '@_user_1'): EventMention {
  return { key, id: { open_id: botOpenId }, name: 'Ziya' };
}

/** A user of the fake platform. */
export function user(name: string): FakeUser {
  return { openId: `ou_${name}`, name };
}

/** The text a user sees in one sent message (text, card entity or inline card). */
export function visibleText(fake: FakeOpenPlatform, message: SentMessage): string {
  const content = JSON.parse(message.content) as Record<string, unknown>;
  if (message.msgType === 'text') return String(content['text']);
  if (content['type'] === 'card') {
    return fake.cards.get(String((content['data'] as { card_id: string }).card_id))?.content ?? '';
  }
  const elements = (content['body'] as { elements?: Array<{ content?: string }> } | undefined)?.elements ?? [];
  return elements.map((element) => element.content ?? '').join('');
}

/** The card entity a sent message shows, if it is one. */
export function cardIdOf(message: SentMessage): string | undefined {
  const content = JSON.parse(message.content) as { type?: string; data?: { card_id?: string } };
  return content.type === 'card' ? content.data?.card_id : undefined;
}

/** Waits for the bot's complete answer to a message (every streaming card closed) and returns it. */
export async function answerTo(
  fake: FakeOpenPlatform,
  messageId: string,
  timeoutMs = 30_000,
): Promise<{ messages: SentMessage[]; text: string }> {
  await fake.waitFor(
    () => {
      const replies = fake.repliesTo(messageId);
      if (replies.length === 0) return false;
      return replies.every((reply) => {
        const cardId = cardIdOf(reply);
        return cardId === undefined || fake.cards.get(cardId)?.streaming === false;
      });
    },
    timeoutMs,
    `the answer to ${messageId}`,
  );
  const messages = fake.repliesTo(messageId);
  return { messages, text: messages.map((message) => visibleText(fake, message)).join('\n') };
}

/** Sleeps (to show that something does not happen). */
export const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
