import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatBytes } from './format-quantity.ts';
import { type ModelManifest, manifestFileName, readManifest } from './manifest.ts';

/** The files of a model directory with their sizes: each graph with its `.data`, the tokenizer, the manifest. */
export function modelDirectoryFiles(directory: string, manifest: ModelManifest): { name: string; bytes: number }[] {
  const graphs = [manifest.files.decoder, manifest.files.embed, manifest.files.vision].filter(
    (file): file is string => file !== undefined,
  );
  return [...graphs.flatMap((graph) => [graph, `${graph}.data`]), manifest.files.tokenizer, manifestFileName]
    .filter((name) => existsSync(join(directory, name)))
    .map((name) => ({ name, bytes: statSync(join(directory, name)).size }));
}

/**
 * What a user needs to trust a model directory, as text: whether it is a random demo, where its weights came from
 * (Hub repository, commit and refs, or directory; each input file's size and digest), dtype, architecture, chat
 * template, generation defaults and the size of every file. Throws `ModelDirectoryError` for an invalid directory.
 */
export function describeModelDirectory(directoryArgument: string): string {
  const directory = resolve(directoryArgument);
  const manifest = readManifest(directory);
  const { text, vision, template, generation } = manifest;
  const lines: string[] = [`model directory ${directory}`];
  const row = (label: string, value: string) => lines.push(`  ${`${label}:`.padEnd(12)}${value}`);
  row('model id', manifest.modelId);
  row(
    'demo',
    manifest.demo
      ? `YES: random weights (${manifest.source}), the answers carry no meaning`
      : `no, built from checkpoints (${manifest.source})`,
  );
  row('dtype', `${manifest.dtype}, decoder padding ${manifest.decoderPadding}`);
  row(
    'text',
    `LLaMA, hidden ${text.hiddenSize}, ${text.numLayers} layers, ${text.numHeads} heads (${text.numKvHeads} key/value), ` +
      `MLP ${text.intermediateSize}, vocabulary ${text.vocabSize}, ${text.maxPositions} positions`,
  );
  row(
    'vision',
    vision === undefined
      ? 'none: a text-only model (images are refused)'
      : `ViT ${vision.imageSize}px/${vision.patchSize}, hidden ${vision.hiddenSize} × ${vision.numLayers} layers; ` +
          `Q-Former ${vision.qformer.numQueries} queries, ${vision.qformer.hiddenSize} × ${vision.qformer.numLayers} ` +
          `layers; projection to ${vision.projectionSize}`,
  );
  row(
    'template',
    `system ${JSON.stringify(template.system)}, user ${JSON.stringify(template.user)}, assistant ` +
      `${JSON.stringify(template.assistant)}, separator ${JSON.stringify(template.turnSeparator)}, stop ` +
      template.stop.map((stop) => JSON.stringify(stop)).join(' '),
  );
  row(
    'generation',
    `${generation.doSample ? 'sampling' : 'greedy'}, up to ${generation.maxNewTokens} new tokens, temperature ` +
      `${generation.temperature}, top-p ${generation.topP}, top-k ${generation.topK}, repetition penalty ` +
      `${generation.repetitionPenalty} (${generation.repetitionPenaltyScope})`,
  );
  if (manifest.inputs === undefined || manifest.inputs.length === 0) {
    row('inputs', manifest.demo ? 'none (random weights)' : 'not recorded (built before model.json listed its inputs)');
  } else {
    lines.push('  inputs:');
    for (const input of manifest.inputs) {
      const at =
        input.commit === undefined
          ? ''
          : ` @ ${input.commit}${input.revisions?.length ? ` (${input.revisions.join(', ')})` : ''}`;
      lines.push(`    ${input.role.padEnd(11)} ${input.location}${at}`);
      for (const file of input.files) {
        lines.push(
          `      ${file.path.padEnd(36)} ${formatBytes(file.bytes).padStart(10)}  ${file.digest ?? ''}`.trimEnd(),
        );
      }
    }
  }
  lines.push('  files:');
  const files = modelDirectoryFiles(directory, manifest);
  for (const file of files) lines.push(`    ${file.name.padEnd(24)} ${formatBytes(file.bytes).padStart(10)}`);
  lines.push(`  ${'total:'.padEnd(12)}${formatBytes(files.reduce((sum, file) => sum + file.bytes, 0))}`);
  return `${lines.join('\n')}\n`;
}
