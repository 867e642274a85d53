import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { ChatTurn } from '../../src/model/chat-model.ts';
import { buildPrompt, type PromptInput, type PromptTokenizer } from '../../workers/chat/prompt-builder.ts';
import { readManifest, ziyaDefaults } from '../../workers/model/manifest.ts';
import { loadTokenizer } from '../../workers/model/tokenizer/text-tokenizer.ts';

/** One token per UTF-16 unit plus BOS (id 1): token counts are string lengths, easy to work out by hand. */
const characterTokenizer: PromptTokenizer = {
  encode: (text, { addBos }) => [...(addBos ? [1] : []), ...Array.from(text, (character) => character.charCodeAt(0))],
};

const template = ziyaDefaults.template;
const instruction = 'Answer in English.';

function exchange(question: string, answer: string, imageSha256?: string): ChatTurn[] {
  const image = imageSha256 === undefined ? {} : { imageSha256 };
  return [
    { requestId: `r-${question}`, role: 'user', text: question, ...image },
    { requestId: `r-${question}`, role: 'assistant', text: answer, ...image },
  ];
}

function input(overrides: Partial<PromptInput>): PromptInput {
  return {
    template,
    tokenizer: characterTokenizer,
    history: [],
    question: 'What is it?',
    instruction,
    imageSha256: 'aaa',
    imageSlots: 32,
    maxPositions: 2048,
    maxNewTokens: 128,
    ...overrides,
  };
}

describe('buildPrompt', () => {
  it('puts the instruction, the question and the bot opening in the Ziya turn format, after the image', () => {
    const prompt = buildPrompt(input({}));
    expect(prompt.text).toBe('Answer in English.\n<human>:What is it?\n<bot>:');
    expect(prompt.displayText).toBe(`<image×32>${prompt.text}`);
    expect(prompt.tokenIds).toEqual(characterTokenizer.encode(prompt.text, { addBos: true }));
    expect(prompt.imageSlots).toBe(32);
    const textOnly = buildPrompt(input({ imageSha256: undefined, imageSlots: 0 }));
    expect(textOnly.displayText).toBe(textOnly.text);
  });

  it('shows earlier exchanges about the same picture, oldest first, and none about another picture', () => {
    const history = [
      ...exchange('old question about a', 'old answer', 'aaa'),
      ...exchange('about b', 'b answer', 'bbb'),
      ...exchange('text only', 'plain answer'),
      ...exchange('again about a', 'second answer', 'aaa'),
    ];
    const aboutA = buildPrompt(input({ history }));
    expect(aboutA.text).toBe(
      'Answer in English.\n' +
        '<human>:old question about a\n<bot>:old answer\n' +
        '<human>:again about a\n<bot>:second answer\n' +
        '<human>:What is it?\n<bot>:',
    );
    expect(aboutA.includedExchanges).toBe(2);
    const newPicture = buildPrompt(input({ history, imageSha256: 'ccc' }));
    expect(newPicture.text).toBe('Answer in English.\n<human>:What is it?\n<bot>:');
    const textOnly = buildPrompt(input({ history, imageSha256: undefined, imageSlots: 0 }));
    expect(textOnly.text).toBe(
      'Answer in English.\n<human>:text only\n<bot>:plain answer\n<human>:What is it?\n<bot>:',
    );
  });

  it('leaves out a question that got no answer and an answer whose question is gone', () => {
    const history: ChatTurn[] = [
      { requestId: 'orphan', role: 'assistant', text: 'orphan answer', imageSha256: 'aaa' },
      { requestId: 'failed', role: 'user', text: 'failed question', imageSha256: 'aaa' },
      ...exchange('kept', 'kept answer', 'aaa'),
    ];
    expect(buildPrompt(input({ history })).text).toBe(
      'Answer in English.\n<human>:kept\n<bot>:kept answer\n<human>:What is it?\n<bot>:',
    );
  });

  it('drops the oldest whole exchanges first to stay within maxPositions - maxNewTokens - image slots', () => {
    const history = [1, 2, 3, 4, 5].flatMap((index) => exchange(`question ${index}`, `answer ${index}`, 'aaa'));
    const alone = buildPrompt(input({})).tokenIds.length;
    // Each exchange renders as "<human>:question N\n<bot>:answer N\n": 8 + 10 + 1 + 6 + 8 + 1 = 34 characters.
    const perExchange = '<human>:question 1\n<bot>:answer 1\n'.length;
    expect(perExchange).toBe(34);
    const maxNewTokens = 100;
    const maxPositions = 32 + maxNewTokens + alone + 2 * perExchange + perExchange - 1;
    const prompt = buildPrompt(input({ history, maxPositions, maxNewTokens }));
    expect(prompt.includedExchanges).toBe(2);
    expect(prompt.droppedExchanges).toBe(3);
    expect(prompt.text).toContain('question 4');
    expect(prompt.text).toContain('question 5');
    expect(prompt.text).not.toContain('question 3');
    expect(prompt.tokenIds.length).toBeLessThanOrEqual(maxPositions - maxNewTokens - 32);
    expect(prompt.tokenIds.length).toBe(alone + 2 * perExchange);
    // Without an image the 32 slots are free: one more exchange fits.
    const textOnly = buildPrompt(
      input({ history: history.map(({ imageSha256: _, ...turn }) => turn), imageSha256: undefined, imageSlots: 0 }),
    );
    expect(textOnly.includedExchanges).toBe(5);
    const textOnlyTight = buildPrompt(
      input({
        history: history.map(({ imageSha256: _, ...turn }) => turn),
        imageSha256: undefined,
        imageSlots: 0,
        maxPositions,
        maxNewTokens,
      }),
    );
    expect(textOnlyTight.includedExchanges).toBe(3);
  });

  it('cuts the end of a question that alone is over the budget', () => {
    const question = 'x'.repeat(500);
    const prompt = buildPrompt(input({ question, maxPositions: 300, maxNewTokens: 100 }));
    expect(prompt.questionTruncated).toBe(true);
    expect(prompt.tokenIds.length).toBe(300 - 100 - 32);
    expect(prompt.text.endsWith('x\n<bot>:')).toBe(true);
  });

  it('takes user text literally (no $& substitution, no template placeholders expanded twice)', () => {
    const prompt = buildPrompt(input({ question: 'cost $& {query} {instruction}?' }));
    expect(prompt.text).toBe('Answer in English.\n<human>:cost $& {query} {instruction}?\n<bot>:');
  });

  it("keeps the newest exchanges that fit, counted with the model's real tokenizer", async () => {
    const directory = inject('tinyModelDir');
    const manifest = readManifest(directory);
    const tokenizer = await loadTokenizer(join(directory, manifest.files.tokenizer));
    const history = Array.from({ length: 12 }, (_, index) =>
      exchange(
        `第${index}个问题: what colour is the car number ${index}?`,
        `The car number ${index} is red. 红色。`,
        'aaa',
      ),
    ).flat();
    const all = buildPrompt(input({ tokenizer, history }));
    expect(all.includedExchanges).toBe(12);
    expect(all.tokenIds).toEqual(tokenizer.encode(all.text, { addBos: true }));
    expect(all.tokenIds[0]).toBe(manifest.text.bosTokenId);
    const maxNewTokens = 64;
    const maxPositions = 32 + maxNewTokens + Math.floor(all.tokenIds.length / 2);
    const budget = maxPositions - maxNewTokens - 32;
    const trimmed = buildPrompt(input({ tokenizer, history, maxPositions, maxNewTokens }));
    expect(trimmed.tokenIds.length).toBeLessThanOrEqual(budget);
    expect(trimmed.includedExchanges).toBeGreaterThan(0);
    expect(trimmed.includedExchanges).toBeLessThan(12);
    expect(trimmed.droppedExchanges).toBe(12 - trimmed.includedExchanges);
    expect(trimmed.text).toContain('car number 11 ');
    // One exchange more would not have fitted: the budget is used, not wasted.
    const keep = trimmed.includedExchanges + 1;
    const oneMore = buildPrompt(input({ tokenizer, history: history.slice(-2 * keep) }));
    expect(oneMore.includedExchanges).toBe(keep);
    expect(oneMore.tokenIds.length).toBeGreaterThan(budget);
  });
});
