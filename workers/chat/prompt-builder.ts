import type { ChatTurn } from '../../src/model/chat-model.ts';
import type { ModelManifest } from '../model/manifest.ts';

/** The part of a tokenizer the prompt builder needs (workers/model/tokenizer's `TextTokenizer` fits it). */
export interface PromptTokenizer {
  encode(text: string, options: { addBos: boolean }): number[];
}

/** What goes into one prompt. */
export interface PromptInput {
  template: ModelManifest['template'];
  tokenizer: PromptTokenizer;
  /** The channel's earlier turns, oldest first. */
  history: readonly ChatTurn[];
  question: string;
  /** The reply-language instruction, substituted for `{instruction}` in the template's system text. */
  instruction: string;
  /** The picture this question is about; only earlier turns about the same picture are shown. */
  imageSha256?: string | undefined;
  /** Image vectors placed before the text (32 with an image, 0 without). */
  imageSlots: number;
  /** The decoder's context length. */
  maxPositions: number;
  /** Positions kept free for the answer. */
  maxNewTokens: number;
}

/** A prompt ready for generation: the text's token ids go after `imageSlots` image vectors. */
export interface BuiltPrompt {
  /** The prompt text (the image vectors are not part of it). */
  text: string;
  /** The text with the image shown as a placeholder (`<image×32>`), for logs and results. */
  displayText: string;
  /** Token ids of `text`, beginning with BOS. */
  tokenIds: number[];
  imageSlots: number;
  /** Earlier question/answer exchanges shown, and those left out for the token budget. */
  includedExchanges: number;
  droppedExchanges: number;
  /** True when even the question alone did not fit and its end was cut off. */
  questionTruncated: boolean;
}

/** One earlier question with its answer. */
interface Exchange {
  question: string;
  answer: string;
  imageSha256: string | undefined;
}

/** The prompt was impossible to build (the template or the budget leave no room for any question). */
export class PromptBudgetError extends Error {
  override readonly name = 'PromptBudgetError';
}

// Plain split/join: `String.replace` would interpret `$&` and friends inside user text.
function fill(pattern: string, placeholder: string, value: string): string {
  return pattern.split(placeholder).join(value);
}

/**
 * Pairs each user turn with the assistant answer that follows it. A question without an answer (a failed or
 * aborted generation) and an answer without its question (the oldest turns already trimmed) are left out: the
 * template can only show whole exchanges.
 */
function toExchanges(history: readonly ChatTurn[]): Exchange[] {
  const exchanges: Exchange[] = [];
  let pending: ChatTurn | undefined;
  for (const turn of history) {
    if (turn.role === 'user') {
      pending = turn;
      continue;
    }
    if (pending === undefined) continue;
    exchanges.push({ question: pending.text, answer: turn.text, imageSha256: pending.imageSha256 ?? turn.imageSha256 });
    pending = undefined;
  }
  return exchanges;
}

/**
 * Builds the text prompt of a question: the system text with the language instruction, the earlier exchanges about
 * the same picture (a new picture starts a new visual context, so talk about another image is never shown as if it
 * were about this one; a text-only question sees only the text-only exchanges), then the question and the opening of
 * the bot's turn. The token budget is `maxPositions - maxNewTokens - imageSlots`; the oldest whole exchanges are
 * dropped first, and the question's end is cut only when it alone does not fit.
 */
export function buildPrompt(input: PromptInput): BuiltPrompt {
  const { template, tokenizer } = input;
  const budget = input.maxPositions - input.maxNewTokens - input.imageSlots;
  const system = fill(template.system, '{instruction}', input.instruction);
  const exchanges = toExchanges(input.history).filter((exchange) => exchange.imageSha256 === input.imageSha256);
  const renderedExchanges = exchanges.map(
    (exchange) =>
      fill(template.user, '{query}', exchange.question) + template.assistant + exchange.answer + template.turnSeparator,
  );
  const render = (dropped: number, question: string) =>
    system + renderedExchanges.slice(dropped).join('') + fill(template.user, '{query}', question) + template.assistant;
  const encode = (text: string) => tokenizer.encode(text, { addBos: true });

  // Fewer exchanges never make the prompt longer: find the fewest drops that fit by bisection.
  let low = 0;
  let high = renderedExchanges.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (encode(render(middle, input.question)).length <= budget) high = middle;
    else low = middle + 1;
  }
  const dropped = low;
  let question = input.question;
  let text = render(dropped, question);
  let tokenIds = encode(text);
  let questionTruncated = false;
  if (tokenIds.length > budget) {
    // Even alone the question is too long: keep the longest beginning of it that fits.
    let keepLow = 0;
    let keepHigh = question.length;
    while (keepLow < keepHigh) {
      const middle = Math.ceil((keepLow + keepHigh) / 2);
      if (encode(render(dropped, question.slice(0, middle))).length <= budget) keepLow = middle;
      else keepHigh = middle - 1;
    }
    question = question.slice(0, keepLow);
    text = render(dropped, question);
    tokenIds = encode(text);
    questionTruncated = true;
    if (tokenIds.length > budget) {
      throw new PromptBudgetError(
        `the prompt template alone needs ${tokenIds.length} tokens, over the budget of ${budget} ` +
          `(${input.maxPositions} positions - ${input.maxNewTokens} new tokens - ${input.imageSlots} image slots)`,
      );
    }
  }
  const placeholder = input.imageSlots > 0 ? `<image×${input.imageSlots}>` : '';
  return {
    text,
    displayText: placeholder + text,
    tokenIds,
    imageSlots: input.imageSlots,
    includedExchanges: renderedExchanges.length - dropped,
    droppedExchanges: dropped,
    questionTruncated,
  };
}
