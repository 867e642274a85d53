import type { ChatModel, ChatModelRequest, ChatModelResult } from '../../src/model/chat-model.ts';

/**
 * TEST DOUBLE around the real tiny model: a question starting with `echo:` is answered with itself (so a test can
 * make the "model" say `@everyone`); everything else goes to the real model.
 */
export class EchoOrRealModel implements ChatModel {
  constructor(private readonly inner: ChatModel) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get demo(): boolean {
    return this.inner.demo;
  }
  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    if (!request.question.startsWith('echo:')) return await this.inner.answer(request);
    const text = request.question.slice('echo:'.length).trim();
    request.onText?.(text);
    return {
      text,
      finishReason: 'stop',
      prompt: request.question,
      promptTokens: 1,
      generatedTokens: 1,
      usedCachedEmbedding: false,
      timings: { visionMs: 0, firstTokenMs: 0, totalMs: 0 },
    };
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}
