import { createHash } from 'node:crypto';
import { mapMarkdown } from '../../src/text/markdown-segments.ts';
import { labelMatchesTarget, rewriteMaskedLinks } from '../../src/text/masked-links.ts';

/** The element id of the answer's markdown element in a streaming card. */
export const answerElementId = 'answer';

/**
 * The `uuid` of one outgoing message of a request (Lark drops a second send with the same uuid): derived from the
 * request id and the part, so every retry, on any replica, sends the same one. Lark allows at most 50 characters.
 */
export function replyUuid(requestId: string, part: string | number): string {
  return createHash('sha256').update(`${requestId}#${part}`).digest('hex').slice(0, 40);
}

/** Breaks `<at …>` tags (a zero-width space after `<`): an answer must not mention anyone, least of all `id=all`. */
function defuseAtTags(text: string): string {
  return text.replace(/<(?=\s*\/?\s*at\b)/gi, '<\u200b');
}

/** A link stays a link only when its text is its address; else `text (address)`. */
function showLinkTargets(text: string): string {
  return rewriteMaskedLinks(text, labelMatchesTarget);
}

/**
 * Untrusted answer text as card markdown that renders as text: outside code every `<` is escaped (`&#60;`), so no
 * `<at>`, `<font>`, `<link>`, `<text_tag>` or other card tag is read, and links show their address; inside code only
 * `<at` is broken.
 */
export function cardMarkdown(answer: string): string {
  return mapMarkdown(answer, {
    prose: (prose) => showLinkTargets(prose.replaceAll('<', '&#60;')),
    code: defuseAtTags,
  });
}

/** `content` of a text message (untrusted answer text: no `<at>` tag, links show their address). */
export function textContent(text: string): string {
  return JSON.stringify({ text: defuseAtTags(showLinkTargets(text)) });
}

/**
 * A card JSON 2.0 with one markdown element showing `answer` ({@link cardMarkdown}); `streaming` cards are updated
 * with CardKit while the answer grows.
 */
export function answerCard(answer: string, streaming: boolean) {
  return {
    schema: '2.0',
    config: {
      streaming_mode: streaming,
      update_multi: true,
      ...(streaming ? { streaming_config: { print_frequency_ms: { default: 50 }, print_step: { default: 2 } } } : {}),
    },
    body: { elements: [{ tag: 'markdown', element_id: answerElementId, content: cardMarkdown(answer) }] },
  };
}

/** `content` of an interactive message showing a CardKit card entity. */
export function cardEntityContent(cardId: string): string {
  return JSON.stringify({ type: 'card', data: { card_id: cardId } });
}

/** `content` of an interactive message carrying a whole (static) card showing `answer`. */
export function inlineCardContent(answer: string): string {
  return JSON.stringify(answerCard(answer, false));
}

/**
 * Splits an answer into parts of at most `maxCharacters` (code points), cutting at the last paragraph, line,
 * sentence or word end in reach, and never cutting a code fence open: a part that ends inside a fence closes it and the next reopens it.
 */
export function splitAnswer(text: string, maxCharacters: number): string[] {
  const characters = [...text];
  if (characters.length <= maxCharacters) return [text];
  const parts: string[] = [];
  let rest = characters;
  let openFence: string | undefined;
  while (rest.length > 0) {
    const prefix = openFence === undefined ? '' : `${openFence}\n`;
    const room = maxCharacters - prefix.length - 4;
    if (rest.length <= room + 4) {
      parts.push(prefix + rest.join(''));
      break;
    }
    const window = rest.slice(0, room).join('');
    const cut = Math.max(
      window.lastIndexOf('\n\n'),
      window.lastIndexOf('\n'),
      window.lastIndexOf('。'),
      window.lastIndexOf('. '),
      window.lastIndexOf(' '),
    );
    const length = cut > room / 2 ? [...window.slice(0, cut + 1)].length : room;
    let part = prefix + rest.slice(0, length).join('');
    rest = rest.slice(length);
    while (rest.length > 0 && /\s/.test(rest[0] ?? '')) rest = rest.slice(1);
    const fences = part.match(/^```.*$/gm) ?? [];
    openFence = fences.length % 2 === 1 ? (fences.at(-1) ?? '```') : undefined;
    if (openFence !== undefined) part += '\n```';
    parts.push(part.trimEnd());
  }
  return parts.filter((part) => part.trim() !== '');
}
