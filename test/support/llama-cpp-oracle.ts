import { getLlama, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel } from 'node-llama-cpp';

/** Options of {@link openLlamaCppOracle}. */
export interface LlamaCppOracleOptions {
  /** CPU threads; keep 1 when the cores are shared (ggml's spinning pool stalls when oversubscribed). @defaultValue 1 */
  threads?: number;
  /** Context size in tokens. @defaultValue 256 */
  contextSize?: number;
  /**
   * Float32 KV cache and no flash attention: llama.cpp's defaults (F16 cache, flash attention on CPU) round keys
   * and values to half precision, which moves logits by ~5e-3; with these off the math is float32 throughout.
   * @defaultValue true
   */
  exact?: boolean;
}

/** llama.cpp (through node-llama-cpp) run on a GGUF file, fed token ids directly (its tokenizer is never used). */
export interface LlamaCppOracle {
  /** Log-softmax of the logits after the last prompt token, `[vocab]` (from llama.cpp's full next-token distribution). */
  nextTokenLogProbabilities(prompt: readonly number[]): Promise<Float64Array>;
  /** Greedy (temperature 0, no repetition penalty) continuation of `prompt`, `count` tokens, EOS included. */
  greedyContinuation(prompt: readonly number[], count: number): Promise<number[]>;
  /** llama.cpp's own SentencePiece tokenization of `text` from the GGUF's vocabulary (no BOS). */
  tokenize(text: string): number[];
  readonly vocabularySize: number;
  dispose(): Promise<void>;
}

const greedy = { temperature: 0 } as const;

/** Loads a GGUF in llama.cpp on the CPU, as the independent implementation our decoder is checked against. */
export async function openLlamaCppOracle(path: string, options: LlamaCppOracleOptions = {}): Promise<LlamaCppOracle> {
  const exact = options.exact ?? true;
  const llama: Llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model: LlamaModel = await llama.loadModel({ modelPath: path });
  const context: LlamaContext = await model.createContext({
    contextSize: options.contextSize ?? 256,
    threads: options.threads ?? 1,
    ...(exact ? { flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  });
  const sequence: LlamaContextSequence = context.getSequence();
  const vocabularySize = model.fileInfo.tensorInfo?.find((tensor) => tensor.name === 'output.weight')?.dimensions[1];
  if (vocabularySize === undefined) throw new Error(`${path} has no output.weight`);

  /** Evaluates `tokens` from a clean history and returns what follows the last one. */
  async function evaluateFresh(tokens: readonly number[], probabilities: boolean) {
    await sequence.clearHistory();
    const input = tokens.map((token, index) =>
      index === tokens.length - 1
        ? ([token, { generateNext: { token: true, probabilities, options: greedy } }] as const)
        : token,
    );
    const results = await sequence.controlledEvaluate(input as never);
    const next = results[tokens.length - 1]?.next;
    if (next?.token === undefined || next.token === null) throw new Error('llama.cpp produced no next token');
    return next;
  }

  return {
    vocabularySize: Number(vocabularySize),
    tokenize: (text) => [...model.tokenize(text)],
    async nextTokenLogProbabilities(prompt) {
      const next = await evaluateFresh(prompt, true);
      const out = new Float64Array(Number(vocabularySize)).fill(Number.NEGATIVE_INFINITY);
      for (const [token, probability] of next.probabilities ?? []) out[token] = Math.log(probability);
      return out;
    },
    async greedyContinuation(prompt, count) {
      const continuation: number[] = [];
      let next = await evaluateFresh(prompt, false);
      while (continuation.length < count) {
        const token = next.token as number;
        continuation.push(token);
        if (continuation.length === count) break;
        const [result] = await sequence.controlledEvaluate([
          [token, { generateNext: { token: true, options: greedy } }],
        ] as never);
        if (result?.next.token === undefined || result.next.token === null) throw new Error('no next token');
        next = result.next;
      }
      return continuation;
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}
