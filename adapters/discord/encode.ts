import { createHash } from 'node:crypto';
import { mapMarkdown } from '../../src/text/markdown-segments.ts';
import { labelMatchesTarget, looksLikeUrl, rewriteMaskedLinks } from '../../src/text/masked-links.ts';

const fenceLine = /^\s*(`{3,}|~{3,})(\S*)/;

/** The fence still open at the end of `text` (e.g. "```ts"), given the one open at its start; '' when none. */
function openFenceAfter(openAtStart: string, text: string): string {
  let open = openAtStart;
  for (const line of text.split('\n')) {
    const match = fenceLine.exec(line);
    if (match === null) continue;
    const marker = match[1] ?? '```';
    if (open === '') open = `${marker}${match[2] ?? ''}`;
    else if (open.startsWith(marker.slice(0, 3)) && (match[2] ?? '') === '') open = '';
  }
  return open;
}

function fenceMarker(open: string): string {
  return /^(`{3,}|~{3,})/.exec(open)?.[1] ?? '```';
}

/** Where to cut `text` to fit `budget` characters: a paragraph, a line, a space, else a hard cut. */
function cutPoint(text: string, budget: number): { at: number; skip: number } {
  const window = text.slice(0, budget + 1);
  const minimum = Math.floor(budget / 2);
  for (const separator of ['\n\n', '\n', ' ']) {
    const index = window.lastIndexOf(separator, budget - separator.length + 1);
    if (index >= minimum && index + separator.length <= budget + 1) return { at: index, skip: separator.length };
  }
  let at = budget;
  const code = text.charCodeAt(at - 1);
  if (code >= 0xd800 && code <= 0xdbff) at -= 1; // never split a surrogate pair
  return { at, skip: 0 };
}

/**
 * Splits `text` into messages of at most `limit` characters, at paragraph, line or word boundaries where it can; a
 * code block cut in two is closed at the end of one message and reopened (with its language) at the start of the next.
 */
export function splitMessage(text: string, limit = 2000): string[] {
  const messages: string[] = [];
  let rest = text;
  let open = '';
  while (rest.length > 0) {
    const prefix = open === '' ? '' : `${open}\n`;
    if (prefix.length + rest.length <= limit) {
      messages.push(prefix + rest);
      break;
    }
    // Room for a closing fence ("\n```", or a longer marker) should this piece end inside a code block.
    const budget = limit - prefix.length - 8;
    const { at, skip } = cutPoint(rest, budget);
    const piece = rest.slice(0, at);
    rest = rest.slice(at + skip);
    const stillOpen = openFenceAfter(open, piece);
    messages.push(`${prefix}${piece}${stillOpen === '' ? '' : `\n${fenceMarker(stillOpen)}`}`);
    open = stillOpen;
  }
  return messages.filter((message) => message.trim() !== '');
}

/** Keeps `@everyone` and `@here` from reading as mass mentions (a zero-width space after the `@`). */
export function defuseMassMentions(text: string): string {
  return text.replace(/@(everyone|here)\b/g, '@\u200b$1');
}

/**
 * Shows disguised links as plain text (outside code): a masked link whose text reads as a URL
 * (`[https://discord.com/nitro](https://evil…)`) must point at that URL, else it becomes `text (target)`. Other masked
 * links stay.
 */
export function defuseDisguisedLinks(text: string): string {
  return mapMarkdown(text, {
    prose: (prose) =>
      rewriteMaskedLinks(prose, (label, target) => !looksLikeUrl(label) || labelMatchesTarget(label, target)),
  });
}

/** The `allowed_mentions` of every message the bot sends: nobody is pinged but the person replied to. */
export const allowedMentionsNone = { parse: [] as string[], replied_user: true } as const;

/**
 * The idempotency nonce of part `index` of a request's answer (≤ 25 characters, as Discord requires): the same
 * request and part always get the same nonce, so a retried create with `enforce_nonce` returns the first message.
 */
export function nonceFor(requestId: string, index: number): string {
  return createHash('sha256').update(`${requestId}#${index}`).digest('base64url').slice(0, 25);
}

/** The REST body that creates part `index` of an answer (disguised links shown as text), as a reply to the asking message for the first part. */
export function messageCreateBody(
  content: string,
  requestId: string,
  index: number,
  replyTo?: { channelId: string; messageId: string },
): Record<string, unknown> {
  return {
    content: defuseDisguisedLinks(content),
    nonce: nonceFor(requestId, index),
    enforce_nonce: true,
    allowed_mentions: allowedMentionsNone,
    ...(replyTo === undefined || index > 0
      ? {}
      : {
          message_reference: {
            message_id: replyTo.messageId,
            channel_id: replyTo.channelId,
            fail_if_not_exists: false,
          },
        }),
  };
}

/** The REST body that edits a message's text (mentions stay off, disguised links shown as text). */
export function messageEditBody(content: string): Record<string, unknown> {
  return { content: defuseDisguisedLinks(content), allowed_mentions: allowedMentionsNone };
}
