import type { ChatModelRequest } from '../../src/model/chat-model.ts';

/** A text-only English question with no history, answered greedily in at most `maxNewTokens` tokens. */
export function greedyQuestion(requestId: string, text: string, maxNewTokens: number): ChatModelRequest {
  return {
    requestId,
    history: [],
    question: text,
    language: 'en',
    instruction: 'Answer in English.',
    generation: { doSample: false, maxNewTokens, repetitionPenalty: 1 },
  };
}
