import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { modelInputSchema } from './model-inputs.ts';

const textConfig = z.object({
  vocabSize: z.number().int().positive(),
  hiddenSize: z.number().int().positive(),
  intermediateSize: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  numKvHeads: z.number().int().positive(),
  rmsNormEps: z.number().positive(),
  ropeTheta: z.number().positive(),
  maxPositions: z.number().int().positive(),
  bosTokenId: z.number().int().nonnegative(),
  eosTokenId: z.number().int().nonnegative(),
  padTokenId: z.number().int().nonnegative(),
});

const visionConfig = z.object({
  imageSize: z.number().int().positive(),
  patchSize: z.number().int().positive(),
  hiddenSize: z.number().int().positive(),
  intermediateSize: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  layerNormEps: z.number().positive(),
  qformer: z.object({
    numQueries: z.number().int().positive(),
    hiddenSize: z.number().int().positive(),
    intermediateSize: z.number().int().positive(),
    numLayers: z.number().int().positive(),
    numHeads: z.number().int().positive(),
    crossAttentionFrequency: z.number().int().positive(),
    layerNormEps: z.number().positive(),
  }),
  projectionSize: z.number().int().positive(),
});

/**
 * `model.json`: everything the runtime needs to know about a model directory. The chat template, special tokens,
 * preprocessing constants and generation defaults live here, not in code, so a wrong guess is fixed by editing JSON.
 */
export const modelManifestSchema = z.object({
  format: z.literal('ziya-visual-bot/model'),
  version: z.literal(1),
  /** Stable id of these weights (used in cache keys such as `emb:<modelId>:<sha256>`). */
  modelId: z.string().min(1),
  /** Where the weights came from: `random:<preset>:<seed>` or the checkpoint directory's name. */
  source: z.string(),
  /** True for random weights: replies carry no meaning. */
  demo: z.boolean(),
  /**
   * True for a model built without a vision tower (`--from` without a BLIP-2 checkpoint): no `vision.onnx`, and
   * `start`, `worker` and `ask` refuse images with the localized `image_unsupported` reply.
   */
  textOnly: z.boolean().default(false),
  dtype: z.enum(['fp32', 'fp16', 'int4', 'int4-fp16']),
  /**
   * Where the decoder's `attention_mask` may hold padding: `any` (left padding too, masked through GQA's
   * attention_bias) or `right` (GQA's native sequence lengths only; the fused CUDA kernels need this).
   */
  decoderPadding: z.enum(['any', 'right']).default('any'),
  /**
   * True when the decoder takes `decode_step` (float32 right-padded builds from this version on): batched decode steps
   * then read the cache in place instead of copying it into presents. Older builds still run, with those copies.
   */
  decodeSteps: z.boolean().default(false),
  text: textConfig,
  vision: visionConfig.optional(),
  /** The checkpoints the weights came from: Hub repository and commit, or directory; each file's size and digest. */
  inputs: z.array(modelInputSchema).optional(),
  files: z.object({
    decoder: z.string(),
    embed: z.string(),
    tokenizer: z.string(),
    vision: z.string().optional(),
  }),
  template: z.object({
    /** Prefix before the conversation (may hold `{instruction}` for the reply-language instruction). */
    system: z.string(),
    /** One user turn; `{query}` is replaced by the text. */
    user: z.string(),
    /** What opens the bot's turn (generation continues from here). */
    assistant: z.string(),
    /** Appended after a finished bot answer in the history. */
    turnSeparator: z.string(),
    /** Generation stops at any of these strings (not included in the reply). */
    stop: z.array(z.string()),
  }),
  preprocessing: z.object({
    imageSize: z.number().int().positive(),
    resample: z.literal('bicubic'),
    rescale: z.number(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number(), z.number(), z.number()]),
  }),
  generation: z.object({
    maxNewTokens: z.number().int().positive(),
    temperature: z.number().nonnegative(),
    topP: z.number().positive().max(1),
    topK: z.number().int().nonnegative(),
    repetitionPenalty: z.number().positive(),
    /**
     * Which tokens the repetition penalty counts: `generated` (the reply's own tokens; Hugging Face's `generate` with
     * `inputs_embeds` only, as Ziya's `chat()` and BLIP-2 call it, starts `input_ids` empty) or `prompt+generated`
     * (the prompt's text tokens too, as `generate(input_ids=...)` does).
     */
    repetitionPenaltyScope: z.enum(['generated', 'prompt+generated']).default('generated'),
    doSample: z.boolean(),
  }),
});

/** The parsed `model.json`. */
export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** The name of the manifest file in a model directory. */
export const manifestFileName = 'model.json';

/** A model directory is missing, incomplete or inconsistent. The message names the file at fault. */
export class ModelDirectoryError extends Error {
  override readonly name = 'ModelDirectoryError';
  constructor(
    readonly directory: string,
    readonly file: string,
    detail: string,
  ) {
    super(`model directory ${directory}: ${file}: ${detail}`);
  }
}

/** Reads and validates `model.json`, with errors that name the file and the field. */
export function readManifest(directory: string): ModelManifest {
  const path = join(directory, manifestFileName);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : String(error);
    throw new ModelDirectoryError(
      directory,
      manifestFileName,
      `${reason} (build one with \`ziya-visual-bot build-model\`)`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ModelDirectoryError(directory, manifestFileName, `invalid JSON: ${(error as Error).message}`);
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new ModelDirectoryError(directory, manifestFileName, issues.join('; '));
  }
  // Directories built before `textOnly` existed: no vision graph is what makes a model text-only.
  return parsed.data.files.vision === undefined ? { ...parsed.data, textOnly: true } : parsed.data;
}

/** Defaults written into every new `model.json`: Ziya's demo settings and the unverified `<human>/<bot>` template. */
export const ziyaDefaults = {
  template: {
    system: '{instruction}\n',
    user: '<human>:{query}\n',
    assistant: '<bot>:',
    turnSeparator: '\n',
    stop: ['<human>:', '\n<human>'],
  },
  preprocessing: {
    imageSize: 224,
    resample: 'bicubic',
    rescale: 1 / 255,
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
  },
  generation: {
    maxNewTokens: 128,
    temperature: 0.7,
    topP: 0.1,
    topK: 0,
    repetitionPenalty: 1.18,
    repetitionPenaltyScope: 'generated',
    doSample: true,
  },
} as const satisfies Pick<ModelManifest, 'template' | 'preprocessing' | 'generation'>;
