import type { ChatModel, ChatModelRequest, ChatModelResult, EmbeddingCache } from '../../src/model/chat-model.ts';

/**
 * TEST DOUBLE (not the model): answers with a fixed word sequence, streamed one word per `stepMs`, using the
 * embedding cache the way the real model does; records every request it was asked. Used only where a test is about
 * the queue mechanics and the real tiny model would add nothing; the end-to-end tests use ZiyaChatModel.
 */
export class FakeChatModel implements ChatModel {
  readonly modelId = 'fake-model';
  readonly demo = false;
  readonly requests: ChatModelRequest[] = [];

  constructor(
    private readonly options: {
      stepMs?: number;
      /** Words per answer, or a function of the question. @defaultValue 5 */
      words?: number | ((question: string) => number);
      embeddingCache?: EmbeddingCache;
    } = {},
  ) {}

  async answer(request: ChatModelRequest): Promise<ChatModelResult> {
    this.requests.push(request);
    const start = performance.now();
    let usedCachedEmbedding = false;
    const cache = this.options.embeddingCache;
    if (request.image !== undefined && cache !== undefined) {
      usedCachedEmbedding = (await cache.get(this.modelId, request.image.sha256)) !== undefined;
      if (!usedCachedEmbedding) await cache.set(this.modelId, request.image.sha256, new Float32Array(8).fill(1));
    }
    const words: string[] = [];
    const wordCount =
      typeof this.options.words === 'function' ? this.options.words(request.question) : (this.options.words ?? 5);
    for (let index = 0; index < wordCount; index += 1) {
      if (request.signal?.aborted) break;
      if ((this.options.stepMs ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, this.options.stepMs));
      words.push(`w${index}`);
      request.onText?.(words.join(' '));
    }
    return {
      text: words.join(' '),
      finishReason: request.signal?.aborted ? 'aborted' : 'stop',
      prompt: `${request.instruction}\n<human>:${request.question}\n<bot>:`,
      promptTokens: 10,
      generatedTokens: words.length,
      usedCachedEmbedding,
      timings: { visionMs: 0, firstTokenMs: 0, totalMs: performance.now() - start },
    };
  }

  async close(): Promise<void> {}
}
