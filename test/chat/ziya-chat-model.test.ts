import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageRejectedError } from '../../src/images/image-rejected-error.ts';
import type { ChatModelRequest, ChatTurn } from '../../src/model/chat-model.ts';
import { MemoryEmbeddingCache } from '../../workers/chat/memory-embedding-cache.ts';
import { ZiyaChatModel } from '../../workers/chat/ziya-chat-model.ts';
import { tinyVisualModelDirectory } from './tiny-visual-model.ts';

async function image(colour: string): Promise<{ sha256: string; bytes: Uint8Array }> {
  const bytes = await sharp({ create: { width: 40, height: 30, channels: 3, background: colour } })
    .png()
    .toBuffer();
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

const greedy = { doSample: false, maxNewTokens: 12, repetitionPenalty: 1.18 } as const;

function request(overrides: Partial<ChatModelRequest>): ChatModelRequest {
  return {
    requestId: 'test-1',
    history: [],
    question: 'What is in this picture?',
    language: 'en',
    instruction: 'Please answer in English.',
    generation: greedy,
    ...overrides,
  };
}

describe('ZiyaChatModel', () => {
  let directory: string;
  let cache: MemoryEmbeddingCache;
  let cachedModel: ZiyaChatModel;
  let uncachedModel: ZiyaChatModel;
  let red: { sha256: string; bytes: Uint8Array };
  let blue: { sha256: string; bytes: Uint8Array };

  beforeAll(async () => {
    directory = tinyVisualModelDirectory();
    cache = new MemoryEmbeddingCache();
    cachedModel = await ZiyaChatModel.load(directory, { executionProvider: 'cpu', threads: 1, embeddingCache: cache });
    uncachedModel = await ZiyaChatModel.load(directory, { executionProvider: 'cpu', threads: 1 });
    red = await image('#d02020');
    blue = await image('#2040e0');
  });

  afterAll(async () => {
    await cachedModel?.close();
    await uncachedModel?.close();
  });

  it('gives exactly the same answer from a cached image embedding as from the vision tower', async () => {
    const first = await cachedModel.answer(request({ image: red }));
    expect(first.usedCachedEmbedding).toBe(false);
    expect(first.timings.visionTowerMs).toBeGreaterThan(0);
    expect(cache.size).toBe(1);
    const second = await cachedModel.answer(request({ image: red }));
    expect(second.usedCachedEmbedding).toBe(true);
    expect(second.timings.visionTowerMs).toBe(0);
    expect(second.timings.preprocessMs).toBe(0);
    expect(cache.hits).toBe(1);
    const withoutCache = await uncachedModel.answer(request({ image: red }));
    expect(withoutCache.usedCachedEmbedding).toBe(false);
    expect(first.generatedTokens).toBeGreaterThan(0);
    expect(second.tokenIds).toEqual(first.tokenIds);
    expect(second.text).toBe(first.text);
    expect(withoutCache.tokenIds).toEqual(first.tokenIds);
    expect(withoutCache.text).toBe(first.text);
    expect(second.promptTokens).toBe(first.promptTokens);
  });

  it('places the 32 image vectors before the text, which carries the language instruction', async () => {
    const result = await uncachedModel.answer(request({ image: red, instruction: '请用简体中文回答。' }));
    expect(result.prompt).toBe('<image×32>请用简体中文回答。\n<human>:What is in this picture?\n<bot>:');
    const textOnly = await uncachedModel.answer(request({ instruction: '请用简体中文回答。' }));
    expect(textOnly.prompt).toBe('请用简体中文回答。\n<human>:What is in this picture?\n<bot>:');
    expect(result.promptTokens).toBe(textOnly.promptTokens + 32);
  });

  it('answers differently about a different picture (the image vectors reach the decoder)', async () => {
    const aboutRed = await uncachedModel.answer(request({ image: red, generation: { ...greedy, maxNewTokens: 6 } }));
    const aboutBlue = await uncachedModel.answer(request({ image: blue, generation: { ...greedy, maxNewTokens: 6 } }));
    expect(aboutBlue.tokenIds).not.toEqual(aboutRed.tokenIds);
  });

  it('shows earlier turns about the same picture only: a new picture starts a new visual context', async () => {
    const history: ChatTurn[] = [
      { requestId: 'a', role: 'user', text: 'Is the blue thing a car?', imageSha256: blue.sha256 },
      { requestId: 'a', role: 'assistant', text: 'Yes, a blue car.', imageSha256: blue.sha256 },
      { requestId: 'b', role: 'user', text: 'What colour is it?', imageSha256: red.sha256 },
      { requestId: 'b', role: 'assistant', text: 'Red.', imageSha256: red.sha256 },
    ];
    const aboutRed = await uncachedModel.answer(
      request({ image: red, history, generation: { ...greedy, maxNewTokens: 2 } }),
    );
    expect(aboutRed.prompt).toContain('<human>:What colour is it?\n<bot>:Red.\n');
    expect(aboutRed.prompt).not.toContain('car');
    const green = await image('#20c040');
    const aboutGreen = await uncachedModel.answer(
      request({ image: green, history, generation: { ...greedy, maxNewTokens: 2 } }),
    );
    expect(aboutGreen.prompt).toBe('<image×32>Please answer in English.\n<human>:What is in this picture?\n<bot>:');
  });

  it('streams the growing answer and stops when aborted', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const result = await uncachedModel.answer(
      request({
        image: red,
        generation: { ...greedy, maxNewTokens: 200 },
        signal: controller.signal,
        onText: (textSoFar) => {
          seen.push(textSoFar);
          if (seen.length === 3) controller.abort();
        },
      }),
    );
    expect(result.finishReason).toBe('aborted');
    expect(seen.length).toBe(3);
    expect(result.generatedTokens).toBeLessThan(20);
    for (let index = 1; index < seen.length; index++) expect(seen[index]!.startsWith(seen[index - 1]!)).toBe(true);

    const before = await cachedModel.answer(request({ image: blue, signal: AbortSignal.abort() }));
    expect(before.finishReason).toBe('aborted');
    expect(before.generatedTokens).toBe(0);
  });

  it('honours the request settings over model.json and samples reproducibly per seed', async () => {
    const short = await uncachedModel.answer(request({ image: red, generation: { ...greedy, maxNewTokens: 3 } }));
    expect(short.generatedTokens).toBeLessThanOrEqual(3);
    // A limit larger than the context still leaves the question in the prompt.
    const controller = new AbortController();
    const huge = await uncachedModel.answer(
      request({
        generation: { ...greedy, maxNewTokens: 100_000 },
        signal: controller.signal,
        onText: () => controller.abort(),
      }),
    );
    expect(huge.prompt).toContain('<human>:What is in this picture?');
    expect(huge.finishReason).toBe('aborted');
    const sampled = { doSample: true, temperature: 1, topP: 1, topK: 0, maxNewTokens: 8, seed: 7 };
    const one = await uncachedModel.answer(request({ image: red, generation: sampled }));
    const two = await uncachedModel.answer(request({ image: red, generation: sampled }));
    expect(two.tokenIds).toEqual(one.tokenIds);
  });

  it('refuses a bad image with its stable key', async () => {
    const bytes = new TextEncoder().encode('not an image');
    const error = await uncachedModel.answer(request({ image: { sha256: 'f'.repeat(64), bytes } })).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ImageRejectedError);
    expect((error as ImageRejectedError).key).toBe('image_unreadable');
  });
});

describe('ZiyaChatModel with a failing embedding cache', () => {
  it('answers through the vision tower and reports the failures', async () => {
    const failures: string[] = [];
    const broken = {
      get: async () => Promise.reject(new Error('redis down')),
      set: async () => Promise.reject(new Error('redis down')),
    };
    const model = await ZiyaChatModel.load(tinyVisualModelDirectory(), {
      executionProvider: 'cpu',
      threads: 1,
      embeddingCache: broken,
      onCacheError: (error, operation) => failures.push(`${operation}: ${(error as Error).message}`),
    });
    try {
      const result = await model.answer(
        request({ image: await image('#808080'), generation: { ...greedy, maxNewTokens: 2 } }),
      );
      expect(result.usedCachedEmbedding).toBe(false);
      expect(result.generatedTokens).toBeGreaterThan(0);
      expect(failures).toEqual(['get: redis down', 'set: redis down']);
    } finally {
      await model.close();
    }
  });
});

describe('ZiyaChatModel batching several answers', () => {
  it('answers pictures and text asked together exactly as it answers each alone', async () => {
    const batches: number[] = [];
    const batched = await ZiyaChatModel.load(tinyVisualModelDirectory(), {
      executionProvider: 'cpu',
      threads: 1,
      batchSize: 4,
      onVisionBatch: (images) => batches.push(images),
    });
    const single = await ZiyaChatModel.load(tinyVisualModelDirectory(), { executionProvider: 'cpu', threads: 1 });
    try {
      const pictures = await Promise.all(['#d02020', '#20a040', '#2040e0'].map((colour) => image(colour)));
      const requests = [
        ...pictures.map((picture, index) => request({ requestId: `picture-${index}`, image: picture })),
        request({ requestId: 'text-only', question: 'Hello there' }),
      ];
      const together = await Promise.all(requests.map((each) => batched.answer(each)));
      // Preprocessing ends at slightly different times: whatever the split, every picture ran exactly once.
      expect(batches.reduce((sum, images) => sum + images, 0)).toBe(3);
      for (const [index, each] of requests.entries()) {
        const alone = await single.answer(each);
        expect(together[index]!.tokenIds, each.requestId).toEqual(alone.tokenIds);
        expect(together[index]!.text).toBe(alone.text);
      }
      expect(batched.batchSize).toBe(4);
    } finally {
      await Promise.all([batched.close(), single.close()]);
    }
  });
});
