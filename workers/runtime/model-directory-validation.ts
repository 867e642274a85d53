import { headSize } from '../model/config.ts';
import { cacheElementType, decoderTensorNames, embedTensorNames } from '../model/decoder/decoder-contract.ts';
import { ModelDirectoryError, type ModelManifest } from '../model/manifest.ts';
import { describeValues, type Session, type ValueDescription } from './onnx-session.ts';

/** The names the runtime feeds and fetches: the builder's decoder contract. */
export const decoderNames = decoderTensorNames;

/** Names of `embed.onnx`'s input and output. */
export const embedNames = embedTensorNames;

/** Element type of the KV cache the decoder declares. */
export type CacheType = 'float32' | 'float16';

function find(values: ValueDescription[], name: string, directory: string, file: string, kind: string) {
  const value = values.find((candidate) => candidate.name === name);
  if (!value) {
    const present = values.map((candidate) => candidate.name).join(', ');
    throw new ModelDirectoryError(directory, file, `${kind} ${name} missing (the graph has: ${present})`);
  }
  return value;
}

function expectType(value: ValueDescription, expected: string, directory: string, file: string): void {
  if (value.type !== expected) {
    throw new ModelDirectoryError(directory, file, `${value.name} is ${value.type}, expected ${expected}`);
  }
}

/** A fixed size must match; a symbolic dimension matches anything. */
function expectDimension(value: ValueDescription, axis: number, size: number, directory: string, file: string) {
  const declared = value.shape[axis];
  if (typeof declared === 'number' && declared !== size) {
    throw new ModelDirectoryError(
      directory,
      file,
      `${value.name} has size ${declared} on axis ${axis}, model.json says ${size}`,
    );
  }
}

/**
 * Checks that `embed.onnx` and `decoder.onnx` have the inputs and outputs the runtime feeds, with the element types
 * and sizes `model.json` promises, and returns the KV cache's element type.
 */
export function validateGraphs(
  directory: string,
  manifest: ModelManifest,
  embed: Session,
  decoder: Session,
): { cacheType: CacheType } {
  const { text, files } = manifest;
  const embedInputs = describeValues(embed, 'inputs');
  const embedOutputs = describeValues(embed, 'outputs');
  expectType(find(embedInputs, embedNames.inputIds, directory, files.embed, 'input'), 'int64', directory, files.embed);
  const embedOutput = find(embedOutputs, embedNames.inputsEmbeds, directory, files.embed, 'output');
  expectType(embedOutput, 'float32', directory, files.embed);
  expectDimension(embedOutput, 2, text.hiddenSize, directory, files.embed);

  const inputs = describeValues(decoder, 'inputs');
  const outputs = describeValues(decoder, 'outputs');
  const file = files.decoder;
  const embeds = find(inputs, decoderNames.inputsEmbeds, directory, file, 'input');
  expectType(embeds, 'float32', directory, file);
  expectDimension(embeds, 2, text.hiddenSize, directory, file);
  expectType(find(inputs, decoderNames.attentionMask, directory, file, 'input'), 'int64', directory, file);
  expectType(find(inputs, decoderNames.numLogitsToKeep, directory, file, 'input'), 'int64', directory, file);
  const decodeStep = inputs.find((value) => value.name === decoderNames.decodeStep);
  if (decodeStep !== undefined) expectType(decodeStep, 'bool', directory, file);
  else if (manifest.decodeSteps) {
    throw new ModelDirectoryError(
      directory,
      file,
      `no ${decoderNames.decodeStep} input, but model.json says decodeSteps`,
    );
  }
  const logits = find(outputs, decoderNames.logits, directory, file, 'output');
  expectType(logits, 'float32', directory, file);
  expectDimension(logits, 2, text.vocabSize, directory, file);

  const cacheType: CacheType = cacheElementType(manifest.dtype);
  const layerInputs = inputs.filter((value) => value.name.startsWith('past_key_values.')).length;
  if (layerInputs !== 2 * text.numLayers) {
    throw new ModelDirectoryError(
      directory,
      file,
      `${layerInputs / 2} layers of KV cache inputs, model.json says numLayers ${text.numLayers}`,
    );
  }
  for (let layer = 0; layer < text.numLayers; layer++) {
    for (const name of [decoderNames.pastKey(layer), decoderNames.pastValue(layer)]) {
      const value = find(inputs, name, directory, file, 'input');
      if (value.type !== cacheType) {
        throw new ModelDirectoryError(
          directory,
          file,
          `${name} is ${value.type}, but model.json's dtype ${manifest.dtype} needs a ${cacheType} KV cache`,
        );
      }
      expectDimension(value, 1, text.numKvHeads, directory, file);
      expectDimension(value, 3, headSize(text), directory, file);
    }
    for (const name of [decoderNames.presentKey(layer), decoderNames.presentValue(layer)]) {
      expectType(find(outputs, name, directory, file, 'output'), cacheType, directory, file);
    }
  }
  return { cacheType };
}
