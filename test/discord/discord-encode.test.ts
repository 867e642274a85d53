import { describe, expect, it } from 'vitest';
import { defuseMassMentions, messageCreateBody, nonceFor, splitMessage } from '../../adapters/discord/encode.ts';

/** Every fence in `message` is closed: an even number of ``` lines. */
function fencesBalanced(message: string): boolean {
  return message.split('\n').filter((line) => /^\s*```/.test(line)).length % 2 === 0;
}

describe('Discord encode (pure)', () => {
  it('keeps short text in one message and splits long prose at paragraph, line and word boundaries', () => {
    expect(splitMessage('hello')).toEqual(['hello']);
    const paragraphs = Array.from(
      { length: 30 },
      (_, index) => `Paragraph ${index} ${'word '.repeat(20).trim()}.`,
    ).join('\n\n');
    const parts = splitMessage(paragraphs, 500);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(500);
      expect(part.startsWith('Paragraph')).toBe(true); // cut between paragraphs, never inside one
    }
    expect(parts.join('\n\n')).toBe(paragraphs);
    const words = 'lorem ipsum '.repeat(400).trim();
    for (const part of splitMessage(words)) {
      expect(part.length).toBeLessThanOrEqual(2000);
      expect(part.startsWith(' ') || part.endsWith(' ')).toBe(false);
    }
  });

  it('never leaves a code block broken: closes it at the cut and reopens it with its language', () => {
    const code = Array.from(
      { length: 150 },
      (_, index) => `  const value${index} = compute(${index}); // line ${index}`,
    ).join('\n');
    const text = `Here is the code:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat is all.`;
    const parts = splitMessage(text);
    expect(parts.length).toBeGreaterThan(2);
    for (const [index, part] of parts.entries()) {
      expect(part.length).toBeLessThanOrEqual(2000);
      expect(fencesBalanced(part), `part ${index}`).toBe(true);
      if (index > 0 && index < parts.length - 1) expect(part.startsWith('```ts\n')).toBe(true);
    }
    const rejoinedCode = parts
      .join('\n')
      .split('\n')
      .filter((line) => line.startsWith('  const value'));
    expect(rejoinedCode).toEqual(code.split('\n'));
  });

  it('hard-cuts text without spaces (Chinese) under the limit without splitting a surrogate pair', () => {
    const chinese = '这是一个很长的回答😀'.repeat(400);
    const parts = splitMessage(chinese);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(2000);
      expect(/[\uD800-\uDBFF]$/.test(part)).toBe(false);
    }
    expect(parts.join('')).toBe(chinese);
  });

  it('defuses @everyone/@here and builds idempotent reply bodies that ping nobody', () => {
    expect(defuseMassMentions('hi @everyone and @here')).toBe('hi @\u200beveryone and @\u200bhere');
    const body = messageCreateBody('text', 'discord-123456789012345678', 0, { channelId: '1', messageId: '2' });
    expect(body).toMatchObject({
      nonce: nonceFor('discord-123456789012345678', 0),
      enforce_nonce: true,
      allowed_mentions: { parse: [], replied_user: true },
      message_reference: { message_id: '2', channel_id: '1', fail_if_not_exists: false },
    });
    expect(nonceFor('discord-1', 0)).toHaveLength(25);
    expect(nonceFor('discord-1', 0)).not.toBe(nonceFor('discord-1', 1));
    expect(
      messageCreateBody('more', 'discord-1', 1, { channelId: '1', messageId: '2' })['message_reference'],
    ).toBeUndefined();
  });
});
