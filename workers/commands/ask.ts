import { Command, InvalidArgumentError } from 'commander';
import { imageFormatNames } from '../../src/images/supported-image-formats.ts';

function integer(name: string, minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < minimum) {
      throw new InvalidArgumentError(`${name} must be an integer ≥ ${minimum}.`);
    }
    return parsed;
  };
}

/** Options of `ask`, as commander parses them. */
interface AskOptions {
  image?: string;
  model?: string;
  maxTokens?: number;
  seed?: number;
  greedy?: boolean;
  executionProvider: 'cpu' | 'cuda' | 'webgpu';
}

/** The one-line reason for a failure a user can fix (bad image, bad model directory), or undefined for a bug. */
async function explain(error: unknown): Promise<string | undefined> {
  const { ImageRejectedError } = await import('../../src/images/image-rejected-error.ts');
  const { ModelDirectoryError } = await import('../model/manifest.ts');
  if (error instanceof ImageRejectedError) return `the image cannot be used (${error.message})`;
  if (error instanceof ModelDirectoryError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') return (error as Error).message;
  return undefined;
}

async function ask(words: string[], options: AskOptions): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const { createHash } = await import('node:crypto');
  const question = words.join(' ').trim();
  const log = (line: string) => process.stderr.write(`${line}\n`);

  let image: { sha256: string; bytes: Uint8Array } | undefined;
  if (options.image !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(options.image);
    } catch (error) {
      throw Object.assign(new Error(`cannot read image ${options.image}: ${(error as Error).message}`), {
        code: (error as NodeJS.ErrnoException).code,
      });
    }
    image = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
  }

  const modelDirectory =
    options.model ??
    process.env['MODEL_DIR'] ??
    (await (await import('../chat/model-directory-cache.ts')).ensureDemoModel(log));
  const { readManifest } = await import('../model/manifest.ts');
  const manifest = readManifest(modelDirectory);
  if (image !== undefined && manifest.files.vision === undefined) {
    // A text-only model: the chat's own localized refusal, in the question's language, before the model loads.
    const { t } = await import('../../src/i18n/catalog.ts');
    const { chooseReplyLanguage } = await import('../../src/language/choose-reply-language.ts');
    const { detectLanguage } = await import('../../src/language/detect-language.ts');
    const { language } = chooseReplyLanguage({ detected: detectLanguage(question) });
    log(`error: ${t(language, 'error.image_unsupported')} (${manifest.modelId}: no vision.onnx)`);
    process.exitCode = 1;
    return;
  }
  if (image !== undefined) {
    // Checked before the (slow) model load, so a bad image is reported at once.
    const { preprocessImage } = await import('../chat/preprocess-image.ts');
    await preprocessImage(image.bytes, manifest.preprocessing);
  }
  const { ZiyaChatModel } = await import('../chat/ziya-chat-model.ts');
  const { MemoryEmbeddingCache } = await import('../chat/memory-embedding-cache.ts');
  const { chooseReplyLanguage } = await import('../../src/language/choose-reply-language.ts');
  const { detectLanguage } = await import('../../src/language/detect-language.ts');
  const { t } = await import('../../src/i18n/catalog.ts');

  log(`loading model from ${modelDirectory} (${options.executionProvider})…`);
  const loadStart = performance.now();
  const model = await ZiyaChatModel.load(modelDirectory, {
    executionProvider: options.executionProvider,
    embeddingCache: new MemoryEmbeddingCache(),
  });
  log(`model ${model.modelId} loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
  const { language } = chooseReplyLanguage({ detected: detectLanguage(question) });
  if (model.demo) log(`*** ${t(language, 'demo.banner')} ***`);

  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  try {
    let printed = 0;
    const result = await model.answer({
      requestId: `cli-${Date.now()}`,
      ...(image === undefined ? {} : { image }),
      history: [],
      question,
      language,
      instruction: t(language, 'instruction.answer_in_language'),
      generation: {
        ...(options.maxTokens === undefined ? {} : { maxNewTokens: options.maxTokens }),
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        ...(options.greedy ? { doSample: false } : {}),
      },
      signal: controller.signal,
      onText: (textSoFar) => {
        process.stdout.write(textSoFar.slice(printed));
        printed = textSoFar.length;
      },
    });
    process.stdout.write(`${result.text.slice(printed)}\n`);
    const { timings } = result;
    log(
      `[${result.finishReason}; ${result.promptTokens} prompt + ${result.generatedTokens} generated tokens; ` +
        `vision ${timings.visionMs.toFixed(0)} ms, first token ${timings.firstTokenMs.toFixed(0)} ms, ` +
        `${result.timings.tokensPerSecond.toFixed(1)} tokens/s]`,
    );
  } finally {
    process.off('SIGINT', interrupt);
    await model.close();
  }
}

/** `ziya-visual-bot ask --image <file> "question"`: one question to the model, the answer streamed to stdout. */
export const command = new Command('ask')
  .description('Ask the model one question, optionally about an image; the answer streams to stdout')
  .argument('<question...>', 'the question')
  .option('--image <file>', `an image file (${imageFormatNames()})`)
  .option('--model <dir>', 'a model directory (default: $MODEL_DIR, else a tiny random-weight demo model)')
  .option('--max-tokens <n>', 'most tokens to generate (default: model.json)', integer('--max-tokens', 1))
  .option('--seed <n>', 'sampling seed', integer('--seed', 0))
  .option('--greedy', 'always pick the most likely token (no sampling)')
  .option('--execution-provider <name>', 'cpu, cuda or webgpu', process.env['EXECUTION_PROVIDER'] ?? 'cpu')
  .action(async (words: string[], options: AskOptions) => {
    if (!['cpu', 'cuda', 'webgpu'].includes(options.executionProvider)) {
      process.stderr.write(
        `error: --execution-provider must be cpu, cuda or webgpu, got ${options.executionProvider}\n`,
      );
      process.exitCode = 1;
      return;
    }
    try {
      await ask(words, options);
    } catch (error) {
      const reason = await explain(error);
      if (reason === undefined) throw error;
      process.stderr.write(`error: ${reason}\n`);
      process.exitCode = 1;
    }
  });
