import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { StartupError } from '../../src/cli/startup-error.ts';
import { type ModelDtype, type PresetName, presets, type TextConfig, type VisionConfig } from './config.ts';
import type { PaddingMode } from './decoder/attention-inputs.ts';
import { buildDecoderGraph, decoderTensorCount } from './decoder/build-decoder-graph.ts';
import { buildEmbedGraph } from './decoder/build-embed-graph.ts';
import { decoderTakesDecodeStep } from './decoder/decoder-contract.ts';
import { checkpointName, describeCheckpoint } from './hub/describe-inputs.ts';
import { type ModelManifest, manifestFileName, modelManifestSchema, ziyaDefaults } from './manifest.ts';
import { checkpointInputFiles, ModelIdHash } from './model-id.ts';
import { BuildProgress, type BuildProgressEvent } from './progress.ts';
import { llamaTokenizerJson } from './tokenizer/llama-vocabulary.ts';
import { sentencePieceToTokenizerJson } from './tokenizer/sentencepiece-convert.ts';
import { hasVisionCheckpoint, openVisionCheckpoint } from './vision/open-vision-checkpoint.ts';
import { readVisionConfig } from './vision/vision-config-file.ts';
import { buildVisionGraph, visionTensorCount } from './vision/vision-graph.ts';
import { randomVisionWeights } from './weights/blip2-weight-specs.ts';
import { readHfLlamaConfig } from './weights/hf-llama-config.ts';
import { randomTextWeights } from './weights/llama-weight-specs.ts';
import { openCheckpoint } from './weights/open-checkpoint.ts';
import { openDeltaCheckpoint } from './weights/open-delta-checkpoint.ts';
import type { WeightSource } from './weights/weight-source.ts';

/** Options of `buildModel`: random weights at a preset, or a Hugging Face checkpoint directory. */
export interface BuildModelOptions {
  /**
   * The model directory to write. The build goes to a private sibling folder renamed into place at the end, so a
   * failed build leaves nothing behind; an existing model directory there is replaced (any other existing, non-empty
   * directory is refused).
   */
  out: string;
  /** Weight storage of the graphs; checked at run time because it usually comes from the command line. */
  dtype: ModelDtype;
  /** Random weights at this size (`tiny`, `small`, `ziya-14b`); exclusive with `from`. */
  preset?: PresetName;
  /** Seed of the random weights. @defaultValue 0 */
  seed?: number;
  /** A Hugging Face LLaMA checkpoint directory (config.json + safetensors + tokenizer); exclusive with `preset`. */
  from?: string;
  /**
   * The base checkpoint directory when `from` holds delta weights (Ziya-LLaMA-13B-v1 on LLaMA-13B): every tensor
   * is base + delta, vocabulary rows past the base's from the delta alone; config and tokenizer come from `from`.
   */
  deltaBase?: string;
  /**
   * A BLIP-2 checkpoint directory (Ziya-BLIP2-14B-Visual-v1: `config.json` + `pytorch_model.bin`) for
   * `vision.onnx`, when it is not `from` itself. @defaultValue `from` when its config.json has a `vision_config`
   */
  visionFrom?: string;
  /**
   * Where `attention_mask` may hold padding: `any` (left padding included) or `right` (GQA's native lengths, the
   * form CUDA's fused kernels and the batching decode scheduler take). See `PaddingMode`. @defaultValue 'right'
   */
  padding?: PaddingMode;
  /** Called after every tensor; throttle it before printing (see `throttleProgress`). */
  onProgress?: (event: BuildProgressEvent) => void;
}

/**
 * A build failed for a reason the user can fix: the options (both or neither source, an unknown dtype or preset, no
 * tokenizer) or a checkpoint (a missing or misshapen tensor, an unreadable file). The message is one line naming the
 * file or tensor; the CLI prints it without a stack trace (a {@link StartupError}). The reader's own error is `cause`.
 */
export class BuildModelError extends StartupError {
  override readonly name: string = 'BuildModelError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Errors of the checkpoint readers that are the checkpoint's fault, not a bug: their message names file or tensor. */
const checkpointErrorNames = new Set([
  'MissingTensorError',
  'CheckpointConfigError',
  'CheckpointFormatError',
  'NoCheckpointError',
  'VisionConfigError',
  'PickleFormatError',
  'ZipFormatError',
  'DeltaMismatchError',
  'HubError',
]);

/** A reader's error or a file-system error as a {@link BuildModelError}; anything else (a bug) is left as it is. */
export function asBuildModelError(error: unknown): unknown {
  if (!(error instanceof Error) || error instanceof BuildModelError) return error;
  if (checkpointErrorNames.has(error.name)) return new BuildModelError(error.message, { cause: error });
  const systemError = error as NodeJS.ErrnoException;
  if (typeof systemError.code === 'string' && /^E[A-Z]+$/.test(systemError.code)) {
    // Node's message usually names the path already ("ENOENT: no such file or directory, open '…'").
    const path =
      systemError.path !== undefined && !error.message.includes(systemError.path) ? ` (${systemError.path})` : '';
    return new BuildModelError(`${error.message}${path}`, { cause: error });
  }
  return error;
}

/** File names inside a model directory. */
export const modelFileNames = {
  decoder: 'decoder.onnx',
  embed: 'embed.onnx',
  tokenizer: 'tokenizer.json',
  vision: 'vision.onnx',
} as const;

const dtypes: readonly ModelDtype[] = ['fp32', 'fp16', 'int4', 'int4-fp16'];

/** What a build wrote. */
export interface BuildModelResult {
  directory: string;
  manifest: ModelManifest;
  /** Every file written, with its size in bytes. */
  files: { name: string; bytes: number }[];
  seconds: number;
}

interface ResolvedSource {
  text: TextConfig;
  textWeights: WeightSource;
  vision: VisionConfig | undefined;
  source: string;
  /** The readable start of the model id; the rest is a hash over every input (see `ModelIdHash`). */
  modelIdPrefix: string;
  /** Adds this source's inputs (checkpoint files, or preset and seed) to the model id's hash. */
  hashInputs: (hash: ModelIdHash) => void;
  demo: boolean;
  writeTokenizer: (path: string) => void;
}

function resolveSource(options: BuildModelOptions): ResolvedSource {
  if (!dtypes.includes(options.dtype)) {
    throw new BuildModelError(`unknown dtype "${options.dtype}": use one of ${dtypes.join(', ')}`);
  }
  if ((options.preset === undefined) === (options.from === undefined)) {
    throw new BuildModelError('give exactly one weight source: a random preset or a checkpoint directory (--from)');
  }
  if (options.deltaBase !== undefined && options.from === undefined) {
    throw new BuildModelError('--delta-base needs --from, the delta checkpoint to apply to it');
  }
  if (options.preset !== undefined) {
    const preset = options.preset;
    if (!Object.hasOwn(presets, preset)) {
      throw new BuildModelError(`unknown preset "${preset}": use one of ${Object.keys(presets).join(', ')}`);
    }
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new BuildModelError(`seed must be an integer, got ${seed}`);
    return {
      text: presets[preset].text,
      textWeights: randomTextWeights(preset, seed),
      vision: presets[preset].vision,
      source: `random:${preset}:${seed}`,
      modelIdPrefix: `random-${preset}-s${seed}-${options.dtype}`,
      hashInputs: (hash) => hash.value('random', `${preset}:${seed}`),
      demo: true,
      writeTokenizer: (path) => writeFileSync(path, JSON.stringify(llamaTokenizerJson())),
    };
  }
  const directory = resolve(options.from!);
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new BuildModelError(`checkpoint directory ${directory} does not exist`);
  }
  const text = readHfLlamaConfig(directory);
  const tokenizerJson = join(directory, 'tokenizer.json');
  const tokenizerModel = join(directory, 'tokenizer.model');
  if (!existsSync(tokenizerJson) && !existsSync(tokenizerModel)) {
    throw new BuildModelError(`checkpoint directory ${directory} has neither tokenizer.json nor tokenizer.model`);
  }
  const { source: sourceName, name: checkpoint } = checkpointName(directory);
  const name = checkpoint.replace(/[^A-Za-z0-9._-]+/g, '-');
  return {
    text,
    textWeights:
      options.deltaBase === undefined
        ? openCheckpoint(directory)
        : openDeltaCheckpoint(directory, text, options.deltaBase),
    // The vision tower comes from --vision-from or this directory's BLIP-2 config; see `planVision`.
    vision: undefined,
    source: sourceName,
    modelIdPrefix: `${name}-${options.dtype}`,
    hashInputs: (hash) => {
      hash.files('text', checkpointInputFiles(directory));
      if (options.deltaBase !== undefined) hash.files('delta-base', checkpointInputFiles(resolve(options.deltaBase)));
    },
    demo: false,
    writeTokenizer: (path) => {
      if (existsSync(tokenizerJson)) copyFileSync(tokenizerJson, path);
      else writeFileSync(path, JSON.stringify(sentencePieceToTokenizerJson(readFileSync(tokenizerModel))));
    },
  };
}

/** Where the vision tower comes from: a random preset's weights or a BLIP-2 checkpoint directory. */
interface VisionPlan {
  config: VisionConfig;
  /** The checkpoint directory (hashed into the model id); undefined for random weights. */
  directory: string | undefined;
  openWeights: () => WeightSource;
}

/**
 * Decides, before anything is written, where `vision.onnx` comes from: so the progress totals are known up front, and
 * a bad vision checkpoint (no `config.json`, a projection that does not fit the decoder) fails before the long
 * decoder conversion. Undefined: a text-only model (`textOnly` in model.json; the runtime refuses images).
 */
function planVision(source: ResolvedSource, options: BuildModelOptions): VisionPlan | undefined {
  if (options.preset !== undefined) {
    const preset = options.preset;
    const config = source.vision;
    if (config === undefined) return undefined;
    return { config, directory: undefined, openWeights: () => randomVisionWeights(preset, options.seed ?? 0) };
  }
  const visionFrom =
    options.visionFrom ?? (options.from !== undefined && hasVisionCheckpoint(options.from) ? options.from : undefined);
  if (visionFrom === undefined) return undefined;
  const directory = resolve(visionFrom);
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new BuildModelError(`vision checkpoint directory ${directory} does not exist`);
  }
  const config = readVisionConfig(directory);
  if (config.projectionSize !== source.text.hiddenSize) {
    throw new BuildModelError(
      `vision checkpoint ${directory} projects to ${config.projectionSize}, ` +
        `but the decoder's hidden size is ${source.text.hiddenSize}`,
    );
  }
  return { config, directory, openWeights: () => openVisionCheckpoint(directory).weights };
}

/** Writes `vision.onnx` (+ `.data`) from the plan. */
function writeVisionGraph(
  vision: VisionPlan,
  options: BuildModelOptions,
  directory: string,
  progress: BuildProgress,
): string {
  // int4 only quantizes the decoder; the vision tower stays fp32 there, and fp16 beside int4-fp16 (CUDA builds).
  const dtype = options.dtype === 'fp16' || options.dtype === 'int4-fp16' ? 'fp16' : 'fp32';
  const weights = vision.openWeights();
  try {
    buildVisionGraph({
      out: join(directory, modelFileNames.vision),
      config: vision.config,
      weights,
      dtype,
      progress,
    });
  } finally {
    weights.close();
  }
  return modelFileNames.vision;
}

/** Every name a model directory may hold: what a rebuild may replace. */
const modelDirectoryEntries = new Set([
  ...Object.values(modelFileNames).flatMap((name) => [name, `${name}.data`]),
  manifestFileName,
]);

/** Refuses an `--out` that is a file or a directory holding anything but a model (it would be replaced). */
function refuseForeignDirectory(directory: string): void {
  if (!existsSync(directory)) return;
  if (!statSync(directory).isDirectory()) throw new BuildModelError(`--out ${directory} is a file, not a directory`);
  const foreign = readdirSync(directory).find((entry) => !modelDirectoryEntries.has(entry));
  if (foreign !== undefined) {
    throw new BuildModelError(
      `--out ${directory} holds ${foreign}, which is not part of a model directory: ` +
        'give a new or empty directory, or a model directory to replace',
    );
  }
}

/** Puts the finished `staging` folder at `directory`, replacing a model directory there. */
function moveIntoPlace(staging: string, directory: string): void {
  if (!existsSync(directory)) {
    renameSync(staging, directory);
    return;
  }
  const replaced = `${staging}.replaced`;
  renameSync(directory, replaced);
  renameSync(staging, directory);
  rmSync(replaced, { recursive: true, force: true });
}

/**
 * Writes a model directory: `decoder.onnx`, `embed.onnx` (each with its `.onnx.data`), `vision.onnx` when there
 * is a vision tower, `tokenizer.json` and `model.json`. Everything is written into a private sibling folder that is
 * renamed into place at the end: a failed build leaves no directory, and a rebuild replaces the old one whole.
 * Failures a user can fix are {@link BuildModelError}s: one line naming the file or tensor.
 */
export function buildModel(options: BuildModelOptions): BuildModelResult {
  const startedAt = performance.now();
  const directory = resolve(options.out);
  const staging = join(dirname(directory), `.${basename(directory)}.building-${process.pid}-${Date.now()}`);
  try {
    const source = resolveSource(options);
    let manifest: ModelManifest;
    let progress: BuildProgress;
    try {
      refuseForeignDirectory(directory);
      const vision = planVision(source, options);
      mkdirSync(staging, { recursive: true });
      ({ manifest, progress } = writeModelFiles(source, vision, options, staging));
    } finally {
      source.textWeights.close();
    }
    moveIntoPlace(staging, directory);
    progress.begin('done');
    return {
      directory,
      manifest,
      files: [...modelDirectoryEntries]
        .filter((name) => existsSync(join(directory, name)))
        .map((name) => ({ name, bytes: statSync(join(directory, name)).size })),
      seconds: (performance.now() - startedAt) / 1000,
    };
  } catch (error) {
    throw asBuildModelError(error);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The graphs, tokenizer and (last) `model.json`, written into `directory`. */
function writeModelFiles(
  source: ResolvedSource,
  vision: VisionPlan | undefined,
  options: BuildModelOptions,
  directory: string,
): { manifest: ModelManifest; progress: BuildProgress } {
  const padding = options.padding ?? 'right';
  const { text, textWeights } = source;
  // Totals known up front (the vision tower included), so the count and the time left never jump.
  const counts = decoderTensorCount(text);
  const visionCounts = vision === undefined ? { tensors: 0, parameters: 0 } : visionTensorCount(vision.config);
  const progress = new BuildProgress(
    counts.tensors + 1 + visionCounts.tensors,
    counts.parameters + text.vocabSize * text.hiddenSize + visionCounts.parameters,
    options.onProgress,
  );
  progress.begin('embed');
  buildEmbedGraph({
    config: text,
    dtype: options.dtype,
    weights: textWeights,
    path: join(directory, modelFileNames.embed),
    progress,
  });
  progress.begin('decoder');
  buildDecoderGraph({
    config: text,
    dtype: options.dtype,
    weights: textWeights,
    path: join(directory, modelFileNames.decoder),
    progress,
    padding,
  });
  const visionFile = vision === undefined ? undefined : writeVisionGraph(vision, options, directory, progress);
  progress.begin('tokenizer');
  source.writeTokenizer(join(directory, modelFileNames.tokenizer));

  // The model id hashes every input, so a rebuild from other weights never meets the old build's cached vectors.
  progress.begin('model id');
  const hash = new ModelIdHash().value('dtype', options.dtype).value('padding', padding);
  source.hashInputs(hash);
  if (vision?.directory !== undefined) hash.files('vision', checkpointInputFiles(vision.directory));
  else hash.value('vision', vision === undefined ? 'none' : 'random');

  const manifest = modelManifestSchema.parse({
    format: 'ziya-visual-bot/model',
    version: 1,
    modelId: hash.id(source.modelIdPrefix),
    source: source.source,
    demo: source.demo,
    textOnly: visionFile === undefined,
    dtype: options.dtype,
    decoderPadding: padding,
    decodeSteps: decoderTakesDecodeStep(options.dtype, padding),
    text,
    ...(vision !== undefined ? { vision: vision.config } : {}),
    files: {
      decoder: modelFileNames.decoder,
      embed: modelFileNames.embed,
      tokenizer: modelFileNames.tokenizer,
      ...(visionFile !== undefined ? { vision: visionFile } : {}),
    },
    template: ziyaDefaults.template,
    preprocessing: ziyaDefaults.preprocessing,
    generation: ziyaDefaults.generation,
    ...(options.from !== undefined
      ? {
          inputs: [
            describeCheckpoint('text', options.from),
            ...(options.deltaBase !== undefined ? [describeCheckpoint('delta-base', options.deltaBase)] : []),
            ...(vision?.directory !== undefined ? [describeCheckpoint('vision', vision.directory)] : []),
          ],
        }
      : {}),
  } satisfies ModelManifest);
  writeFileSync(join(directory, manifestFileName), `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, progress };
}
