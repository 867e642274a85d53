import type { ChatModel, ChatModelRequest, ChatModelResult } from '../model/chat-model.ts';
import {
  generatedTokens,
  generationSeconds,
  generationTokensPerSecond,
  timeToFirstTokenSeconds,
  workerBusy,
} from './metrics.ts';

/**
 * Wraps a model so every answer is measured: busy slots while it runs, and on completion its latency, time to first
 * token, tokens/s and token count. The model itself is untouched (the same object answers).
 */
export function instrumentChatModel(model: ChatModel): ChatModel {
  return {
    get modelId() {
      return model.modelId;
    },
    get demo() {
      return model.demo;
    },
    get batchSize() {
      return model.batchSize;
    },
    async answer(request: ChatModelRequest): Promise<ChatModelResult> {
      workerBusy.inc();
      try {
        const result = await model.answer(request);
        const { timings } = result;
        generationSeconds.observe({ finish_reason: result.finishReason }, timings.totalMs / 1000);
        if (result.generatedTokens > 0) {
          timeToFirstTokenSeconds.observe(timings.firstTokenMs / 1000);
          generatedTokens.inc(result.generatedTokens);
          const decodeMs = timings.totalMs - timings.firstTokenMs;
          if (result.generatedTokens > 1 && decodeMs > 0)
            generationTokensPerSecond.observe((result.generatedTokens - 1) / (decodeMs / 1000));
        }
        return result;
      } finally {
        workerBusy.dec();
      }
    },
    close: () => model.close(),
  };
}
