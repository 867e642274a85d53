import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { greedyQuestion } from '../support/greedy-question.ts';

const question = (requestId: string, text: string) => greedyQuestion(requestId, text, 8);

// The warm-up a GPU worker runs before it is ready writes into the host slot pool (cuda's): slot 0 gets a prompt and
// every row a decode position. Answers after it must be those of a model that never warmed up.
describe('ZiyaChatModel.warmUp on the host slot pool', () => {
  let warmed: ZiyaChatModel;
  let cold: ZiyaChatModel;

  beforeAll(async () => {
    const directory = inject('tinyModelDir');
    const load = () => ZiyaChatModel.load(directory, { executionProvider: 'cpu', threads: 1, batchSize: 2 });
    [warmed, cold] = await Promise.all([load(), load()]);
  });
  afterAll(async () => {
    await Promise.all([warmed?.close(), cold?.close()]);
  });

  it('leaves nothing behind that changes the next answers, two decoded together', async () => {
    expect(await warmed.warmUp()).toBeGreaterThan(0);
    const requests = [question('warm-a', 'Hello there'), question('warm-b', 'Why is the sky blue?')];
    const expected = await Promise.all(requests.map((request) => cold.answer(request)));
    const actual = await Promise.all(requests.map((request) => warmed.answer(request)));
    expect(actual.map((answer) => answer.tokenIds)).toEqual(expected.map((answer) => answer.tokenIds));
    expect(actual[0]!.tokenIds.length).toBeGreaterThan(0);
    // The answers are not all the same tokens (the comparison could not miss a shifted row).
    expect(actual[0]!.tokenIds).not.toEqual(actual[1]!.tokenIds);
  });
});
