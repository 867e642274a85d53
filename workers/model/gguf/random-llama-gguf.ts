import { type PresetName, presets } from '../config.ts';
import { llamaTokenizerJson } from '../tokenizer/llama-vocabulary.ts';
import { randomTextWeights } from '../weights/llama-weight-specs.ts';
import { vocabularyFromTokenizerJson } from './gguf-vocabulary.ts';
import { type GgufFileType, writeLlamaGguf } from './llama-gguf.ts';

/** Options of {@link writeRandomLlamaGguf}. */
export interface RandomLlamaGgufOptions {
  path: string;
  preset: PresetName;
  seed: number;
  fileType: GgufFileType;
}

/**
 * Writes the seeded random decoder weights of a preset (the same values `build-model --preset … --seed …` puts in
 * `decoder.onnx`) as GGUF with LLaMA's real vocabulary, for llama.cpp to run as an independent implementation.
 */
export function writeRandomLlamaGguf(options: RandomLlamaGgufOptions): { bytes: number } {
  const config = presets[options.preset].text;
  const weights = randomTextWeights(options.preset, options.seed);
  try {
    return writeLlamaGguf({
      path: options.path,
      config,
      weights,
      vocabulary: vocabularyFromTokenizerJson(llamaTokenizerJson(), config.vocabSize, config),
      fileType: options.fileType,
      name: `random ${options.preset} seed ${options.seed}`,
    });
  } finally {
    weights.close();
  }
}
