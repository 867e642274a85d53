import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type ModelDtype, type PresetName, presets, type TextConfig, type VisionConfig } from './config.ts';
import type { PaddingMode } from './decoder/attention-inputs.ts';
import { buildDecoderGraph, decoderTensorCount } from './decoder/build-decoder-graph.ts';
import { buildEmbedGraph } from './decoder/build-embed-graph.ts';
import { type ModelManifest, manifestFileName, modelManifestSchema, ziyaDefaults } from './manifest.ts';
import { BuildProgress, type BuildProgressEvent } from './progress.ts';
import { llamaTokenizerJson } from './tokenizer/llama-vocabulary.ts';
import { sentencePieceToTokenizerJson } from './tokenizer/sentencepiece-convert.ts';
import { hasVisionCheckpoint, openVisionCheckpoint } from './vision/open-vision-checkpoint.ts';
import { buildVisionGraph, visionTensorCount } from './vision/vision-graph.ts';
import { randomVisionWeights } from './weights/blip2-weight-specs.ts';
import { readHfLlamaConfig } from './weights/hf-llama-config.ts';
import { randomTextWeights } from './weights/llama-weight-specs.ts';
import { openCheckpoint } from './weights/open-checkpoint.ts';
import type { WeightSource } from './weights/weight-source.ts';

/** Options of `buildModel`: random weights at a preset, or a Hugging Face checkpoint directory. */
export interface BuildModelOptions {
  /** The model directory to write (created when missing; existing files are overwritten). */
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

/** The options of a build are wrong (both or neither source, an unknown dtype or preset, no tokenizer). */
export class BuildModelError extends Error {
  override readonly name = 'BuildModelError';
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
  modelId: string;
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
      modelId: `random-${preset}-s${seed}-${options.dtype}`,
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
  const name = basename(directory).replace(/[^A-Za-z0-9._-]+/g, '-');
  return {
    text,
    textWeights: openCheckpoint(directory),
    // A text-only checkpoint has no vision tower; see `writeVisionGraph`.
    vision: undefined,
    source: basename(directory),
    modelId: `${name}-${options.dtype}`,
    demo: false,
    writeTokenizer: (path) => {
      if (existsSync(tokenizerJson)) copyFileSync(tokenizerJson, path);
      else writeFileSync(path, JSON.stringify(sentencePieceToTokenizerJson(readFileSync(tokenizerModel))));
    },
  };
}

/**
 * Where `vision.onnx` gets written: the vision engineer's `buildVisionGraph(...)` (workers/model/vision/) is called
 * here for random presets and BLIP-2 checkpoints. Returns the file name written, or undefined for a text-only
 * model (the runtime then refuses images).
 */
function writeVisionGraph(
  source: ResolvedSource,
  options: BuildModelOptions,
  directory: string,
  progress: BuildProgress,
): string | undefined {
  // int4 only quantizes the decoder; the vision tower stays fp32 there, and fp16 beside int4-fp16 (CUDA builds).
  const dtype = options.dtype === 'fp16' || options.dtype === 'int4-fp16' ? 'fp16' : 'fp32';
  const out = join(directory, modelFileNames.vision);
  if (options.preset !== undefined && source.vision !== undefined) {
    const counts = visionTensorCount(source.vision);
    progress.expect(counts.tensors, counts.parameters);
    const weights = randomVisionWeights(options.preset, options.seed ?? 0);
    buildVisionGraph({ out, config: source.vision, weights, dtype, progress });
    return modelFileNames.vision;
  }
  const visionDirectory =
    options.visionFrom ?? (options.from !== undefined && hasVisionCheckpoint(options.from) ? options.from : undefined);
  if (visionDirectory === undefined) return undefined;
  const checkpoint = openVisionCheckpoint(resolve(visionDirectory));
  try {
    if (checkpoint.config.projectionSize !== source.text.hiddenSize) {
      throw new BuildModelError(
        `vision checkpoint ${visionDirectory} projects to ${checkpoint.config.projectionSize}, ` +
          `but the decoder's hidden size is ${source.text.hiddenSize}`,
      );
    }
    const counts = visionTensorCount(checkpoint.config);
    progress.expect(counts.tensors, counts.parameters);
    buildVisionGraph({ out, config: checkpoint.config, weights: checkpoint.weights, dtype, progress });
  } finally {
    checkpoint.weights.close();
  }
  source.vision = checkpoint.config;
  return modelFileNames.vision;
}

/**
 * Writes a model directory: `decoder.onnx`, `embed.onnx` (each with its `.onnx.data`), `vision.onnx` when there
 * is a vision tower, `tokenizer.json`, and last `model.json`, so a directory with a manifest is a finished one.
 */
export function buildModel(options: BuildModelOptions): BuildModelResult {
  const startedAt = performance.now();
  const source = resolveSource(options);
  const directory = resolve(options.out);
  mkdirSync(directory, { recursive: true });
  // A directory with a manifest is a finished one: an older manifest must not vouch for half-rewritten graphs.
  rmSync(join(directory, manifestFileName), { force: true });
  const counts = decoderTensorCount(source.text);
  const progress = new BuildProgress(
    counts.tensors + 1,
    counts.parameters + source.text.vocabSize * source.text.hiddenSize,
    options.onProgress,
  );
  const { text, textWeights } = source;
  let visionFile: string | undefined;
  try {
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
      padding: options.padding ?? 'right',
    });
    visionFile = writeVisionGraph(source, options, directory, progress);
  } finally {
    textWeights.close();
  }
  progress.begin('tokenizer');
  source.writeTokenizer(join(directory, modelFileNames.tokenizer));

  const manifest = modelManifestSchema.parse({
    format: 'ziya-visual-bot/model',
    version: 1,
    modelId: source.modelId,
    source: source.source,
    demo: source.demo,
    dtype: options.dtype,
    decoderPadding: options.padding ?? 'right',
    text,
    ...(visionFile !== undefined && source.vision !== undefined ? { vision: source.vision } : {}),
    files: {
      decoder: modelFileNames.decoder,
      embed: modelFileNames.embed,
      tokenizer: modelFileNames.tokenizer,
      ...(visionFile !== undefined ? { vision: visionFile } : {}),
    },
    template: ziyaDefaults.template,
    preprocessing: ziyaDefaults.preprocessing,
    generation: ziyaDefaults.generation,
  } satisfies ModelManifest);
  writeFileSync(join(directory, manifestFileName), `${JSON.stringify(manifest, null, 2)}\n`);
  progress.begin('done');

  const written = [
    modelFileNames.embed,
    `${modelFileNames.embed}.data`,
    modelFileNames.decoder,
    `${modelFileNames.decoder}.data`,
    ...(visionFile !== undefined ? [visionFile, `${visionFile}.data`] : []),
    modelFileNames.tokenizer,
    manifestFileName,
  ];
  return {
    directory,
    manifest,
    files: written
      .filter((name) => existsSync(join(directory, name)))
      .map((name) => ({ name, bytes: statSync(join(directory, name)).size })),
    seconds: (performance.now() - startedAt) / 1000,
  };
}
