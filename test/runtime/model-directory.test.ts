import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelDirectoryError } from '../../workers/model/manifest.ts';
import { loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { createTestTokenizer, testTextConfig, writeTestModel } from './support/test-model.ts';

let root: string;
const tokenizer = createTestTokenizer();
const load = (directory: string) => loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1, tokenizer });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'runtime-directory-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A fresh valid model directory whose model.json is then changed by `edit`. */
function modelWith(name: string, edit: (manifest: Record<string, unknown>) => void): string {
  const directory = join(root, name);
  writeTestModel(directory);
  const path = join(directory, 'model.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest));
  return directory;
}

async function failure(directory: string): Promise<ModelDirectoryError> {
  const error = await load(directory).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ModelDirectoryError);
  return error as ModelDirectoryError;
}

describe('loadLanguageModel', () => {
  it('loads a valid directory and embeds tokens', async () => {
    const directory = join(root, 'valid');
    writeTestModel(directory);
    const model = await load(directory);
    try {
      expect(model.cacheType).toBe('float32');
      const rows = await model.embedTokens([5, 6, 5]);
      expect(rows).toHaveLength(3 * 64);
      expect([...rows.subarray(0, 64)]).toEqual([...rows.subarray(128, 192)]);
      expect([...rows.subarray(0, 64)]).not.toEqual([...rows.subarray(64, 128)]);
    } finally {
      await model.dispose();
    }
  });

  it('names a missing decoder.onnx', async () => {
    const directory = join(root, 'missing');
    writeTestModel(directory);
    rmSync(join(directory, 'decoder.onnx'));
    const error = await failure(directory);
    expect(error.file).toBe('decoder.onnx');
    expect(error.message).toMatch(/not found/);
  });

  it('names a corrupt model.json', async () => {
    const directory = join(root, 'corrupt');
    writeTestModel(directory);
    writeFileSync(join(directory, 'model.json'), '{"format": "ziya-visual-bot/model", ');
    const error = await failure(directory);
    expect(error.file).toBe('model.json');
    expect(error.message).toMatch(/invalid JSON/);
  });

  it('names a decoder.onnx that onnxruntime cannot read', async () => {
    const directory = join(root, 'garbage');
    writeTestModel(directory);
    writeFileSync(join(directory, 'decoder.onnx'), 'not a protobuf');
    expect((await failure(directory)).file).toBe('decoder.onnx');
  });

  it('rejects a dtype that does not match the decoder graph', async () => {
    const error = await failure(modelWith('dtype', (manifest) => (manifest.dtype = 'fp16')));
    expect(error.file).toBe('decoder.onnx');
    expect(error.message).toMatch(/float32.*fp16.*float16/);
  });

  it('rejects a hidden size, layer count or vocabulary that does not match the graphs', async () => {
    const hidden = await failure(
      modelWith('hidden', (manifest) => (manifest.text = testTextConfig({ hiddenSize: 128, numHeads: 8 }))),
    );
    expect(hidden.file).toBe('embed.onnx');
    expect(hidden.message).toMatch(/inputs_embeds.*64.*128/);
    const layers = await failure(modelWith('layers', (manifest) => (manifest.text = testTextConfig({ numLayers: 3 }))));
    expect(layers.file).toBe('decoder.onnx');
    expect(layers.message).toMatch(/numLayers 3/);
    const vocabulary = await failure(
      modelWith('vocabulary', (manifest) => (manifest.text = testTextConfig({ vocabSize: 500 }))),
    );
    expect(vocabulary.message).toMatch(/logits.*500/);
  });
});
