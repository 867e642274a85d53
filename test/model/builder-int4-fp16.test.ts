import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../../workers/model/build-model.ts';
import { presets } from '../../workers/model/config.ts';
import { buildDecoderGraph } from '../../workers/model/decoder/build-decoder-graph.ts';
import { BuildProgress } from '../../workers/model/progress.ts';
import { llamaGlobalTensorNames, randomTextWeights } from '../../workers/model/weights/llama-weight-specs.ts';
import { loadLanguageModel } from '../../workers/runtime/language-model.ts';
import { providerIncompatibility } from '../../workers/runtime/provider-compatibility.ts';
import { referenceLogits } from './builder-reference-forward.ts';
import { cpuSession, dequantizedInt4, embedIds, relativeRmsError, runDecoder } from './builder-test-support.ts';

const { onnx } = onnxProto;
const config = presets.tiny.text;
const prompt = [1, 15, 300, 4000, 27, 31999, 29871, 13];
const weights = randomTextWeights('tiny', 0);
const promptEmbeds = embedIds(weights.get(llamaGlobalTensorNames.embedding).data, config.hiddenSize, prompt);
/** The fp32 weights the 4-bit codes stand for. */
const dequantized = dequantizedInt4(weights);

let temporary: string;
beforeAll(() => {
  temporary = mkdtempSync(join(tmpdir(), 'builder-int4-fp16-'));
});
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

function build(dtype: 'int4' | 'int4-fp16'): string {
  const path = join(temporary, `${dtype}.onnx`);
  buildDecoderGraph({ config, dtype, weights, path, progress: new BuildProgress(1, 1), padding: 'right' });
  return path;
}

async function prefillLogits(path: string, cacheType: 'float32' | 'float16') {
  const session = await cpuSession(path);
  try {
    return await runDecoder(session, config, {
      embeds: promptEmbeds,
      batch: 1,
      sequence: prompt.length,
      mask: prompt.map(() => 1),
      logitsToKeep: prompt.length,
      cacheType,
    });
  } finally {
    await session.release();
  }
}

// The CUDA-compatible int4 build: MatMulNBits with float16 activations and scales, a float16 KV cache, right padding.
describe('decoder.onnx (int4-fp16)', () => {
  it('is MatMulNBits on float16 scales beside float16 GroupQueryAttention: no float32 matmul or cache left', () => {
    const model = onnx.ModelProto.decode(readFileSync(build('int4-fp16')));
    const { graph } = model;
    const matmuls = graph!.node!.filter((node) => node.opType === 'MatMulNBits');
    // Per layer qkv, o_proj, gate_up, down; then lm_head.
    expect(matmuls).toHaveLength(4 * config.numLayers + 1);
    expect(graph!.node!.filter((node) => node.opType === 'MatMul')).toHaveLength(0);
    const initializers = new Map(graph!.initializer!.map((value) => [value.name, value]));
    for (const node of matmuls) {
      expect(initializers.get(node.input![2]!)?.dataType, node.name!).toBe(onnx.TensorProto.DataType.FLOAT16);
      expect(initializers.get(node.input![1]!)?.dataType, node.name!).toBe(onnx.TensorProto.DataType.UINT8);
    }
    const cacheTypes = graph!
      .input!.filter((value) => value.name!.startsWith('past_key_values.'))
      .map((value) => value.type!.tensorType!.elemType);
    expect(new Set(cacheTypes)).toEqual(new Set([onnx.TensorProto.DataType.FLOAT16]));
    // Right padding: GQA gets per-row lengths, no attention_bias (which CUDA's GQA refuses).
    const attention = graph!.node!.filter((node) => node.opType === 'GroupQueryAttention');
    expect(attention).toHaveLength(config.numLayers);
    for (const node of attention) expect(node.input!.length).toBeLessThanOrEqual(9);
  });

  it("runs on the CPU EP and stays within 3 % of its weights' model and of the float32-activation int4 build", async () => {
    const half = await prefillLogits(build('int4-fp16'), 'float16');
    expect(half.outputs['present.0.key']!.type).toBe('float16');
    const single = await prefillLogits(build('int4'), 'float32');
    const ofDequantized = referenceLogits(config, dequantized, prompt).flatMap((row) => [...row]);
    const ofFp32 = referenceLogits(config, weights, prompt).flatMap((row) => [...row]);
    const errors = {
      dequantized: relativeRmsError(half.logits, ofDequantized),
      int4: relativeRmsError(half.logits, single.logits),
      fp32: relativeRmsError(half.logits, ofFp32),
    };
    console.info(`int4-fp16 relative RMS error: ${JSON.stringify(errors)}`);
    // fp16 activations and int8 activation blocks (accuracy_level 4) on the CPU: about 1 %, far below the 4-bit
    // weights' own error against fp32 (≈ 17 % on this 2-layer random model, as for int4).
    expect(errors.dequantized).toBeLessThan(0.03);
    expect(errors.int4).toBeLessThan(0.03);
    expect(errors.fp32).toBeLessThan(0.3);
  });

  it('builds a whole model directory that loads on the CPU with a float16 cache, and that cuda accepts', async () => {
    const directory = join(temporary, 'tiny-int4-fp16');
    const { manifest } = buildModel({ out: directory, preset: 'tiny', seed: 0, dtype: 'int4-fp16' });
    expect(manifest.dtype).toBe('int4-fp16');
    expect(manifest.decoderPadding).toBe('right');
    expect(providerIncompatibility(manifest, 'cuda')).toBeUndefined();
    const model = await loadLanguageModel(directory, { executionProvider: 'cpu', threads: 1 });
    try {
      expect(model.cacheType).toBe('float16');
      const output = await model.runDecoder({
        inputsEmbeds: await model.embedTokens(prompt),
        batch: 1,
        sequence: prompt.length,
        attentionMask: new BigInt64Array(prompt.length).fill(1n),
        past: model.emptyCache(1),
        logitsToKeep: 1,
      });
      // The fp16 embedding table and activations: the last position's logits as the decoder graph alone gives them.
      const alone = await prefillLogits(build('int4-fp16'), 'float16');
      const last = alone.logits.subarray((prompt.length - 1) * config.vocabSize);
      expect(relativeRmsError(output.logits, last)).toBeLessThan(0.01);
    } finally {
      await model.dispose();
    }
  });
});
