import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgmlType, readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import type { TextConfig } from '../../workers/model/config.ts';
import { placeholderVocabulary } from '../../workers/model/gguf/gguf-vocabulary.ts';
import { ggufAlignment, writeGguf } from '../../workers/model/gguf/gguf-writer.ts';
import { permuteForInterleavedRope, writeLlamaGguf } from '../../workers/model/gguf/llama-gguf.ts';
import { dequantizeQ4_0, quantizeQ4_0 } from '../../workers/model/gguf/quantize-q4-0.ts';
import { llamaWeightSpecs } from '../../workers/model/weights/llama-weight-specs.ts';
import { fillNormal, RandomWeightSource } from '../../workers/model/weights/random-weights.ts';

const directory = mkdtempSync(join(tmpdir(), 'gguf-writer-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('quantizeQ4_0', () => {
  it('stores the signed extreme as -8 codes of an fp16 scale, low nibbles first', () => {
    // Block values k - 8 for k = 0..15 twice, scaled: the extreme -8 gives d = 1 exactly and codes k.
    const values = Float32Array.from({ length: 32 }, (_, index) => (index % 16) - 8);
    const bytes = quantizeQ4_0(values);
    expect(bytes.length).toBe(18);
    expect(bytes[0]! | (bytes[1]! << 8)).toBe(0x3c00); // fp16 1.0
    for (let index = 0; index < 16; index++) expect(bytes[2 + index]).toBe(index | (index << 4));
  });

  it('puts element j in the low nibble and element j + 16 in the high nibble', () => {
    const values = new Float32Array(32);
    values[0] = 8; // the extreme: d = -1, so x = 8 gets code 0 and x = 0 code 8
    values[16] = -7;
    const bytes = quantizeQ4_0(values);
    expect(bytes[2]).toBe(0 | (15 << 4));
    expect(bytes[3]).toBe(8 | (8 << 4));
  });

  it('rounds halfway values up and clamps the top code to 15, as ggml truncates x/d + 8.5', () => {
    const values = new Float32Array(32);
    values[0] = -8; // d = 1
    values[1] = 0.5; // 8.5 + 0.5 = 9 → 9
    values[2] = -0.5; // 8 → 8
    values[3] = 7.6; // 16.1 → 15
    const codes = Array.from(quantizeQ4_0(values).subarray(2, 6), (byte) => byte & 0x0f);
    expect(codes).toEqual([0, 9, 8, 15]);
  });

  it('round-trips random rows within half a step, except beyond +7 steps on the side opposite the extreme', () => {
    const values = new Float32Array(32 * 64);
    fillNormal(values, 7, 'q4', 0, 1);
    const restored = dequantizeQ4_0(quantizeQ4_0(values));
    for (let block = 0; block < 64; block++) {
      const slice = values.subarray(block * 32, block * 32 + 32);
      const extreme = slice.reduce((best, value) => (Math.abs(value) > Math.abs(best) ? value : best), 0);
      const scale = extreme / -8;
      const scaleRounding = Math.abs(scale) * 8 * 2 ** -11; // fp16 storage of d, times the largest code
      for (let index = 0; index < 32; index++) {
        const error = Math.abs(restored[block * 32 + index]! - slice[index]!);
        // Codes reach -8·d on the extreme's side but only +7·d on the other: values past 7.5·d clamp.
        const clamped = slice[index]! / scale > 7.5;
        const bound = clamped ? slice[index]! - 7 * scale : Math.abs(scale) / 2;
        expect(error).toBeLessThanOrEqual(Math.abs(bound) + scaleRounding + 1e-6);
      }
    }
  });
});

describe('permuteForInterleavedRope', () => {
  it("moves each head's row s·D/2 + i to 2i + s (convert_hf_to_gguf's permute)", () => {
    const heads = 2;
    const headSize = 4;
    const inFeatures = 3;
    const weight = Float32Array.from({ length: heads * headSize * inFeatures }, (_, index) => index);
    const permuted = permuteForInterleavedRope(weight, heads, inFeatures);
    const rowOrder = Array.from({ length: heads * headSize }, (_, row) => permuted[row * inFeatures]! / inFeatures);
    expect(rowOrder).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(Array.from(permuted.subarray(3, 6))).toEqual([6, 7, 8]);
  });
});

describe('writeGguf', () => {
  it('writes a file that node-llama-cpp’s own GGUF parser reads back: metadata, reversed dims, aligned offsets', async () => {
    const path = join(directory, 'small.gguf');
    const matrix = Float32Array.from({ length: 3 * 64 }, (_, index) => index / 100);
    writeGguf(
      path,
      new Map([
        ['general.architecture', { type: 'string', value: 'llama' }],
        ['test.count', { type: 'uint32', value: 42 }],
        ['test.ratio', { type: 'float32', value: 0.5 }],
        ['test.names', { type: 'stringArray', value: ['a', 'ß', ''] }],
      ]),
      [
        { name: 'odd', dims: [5], type: 'f32', produce: () => new Uint8Array(new Float32Array(5).buffer) },
        { name: 'matrix', dims: [3, 64], type: 'q4_0', produce: () => quantizeQ4_0(matrix) },
        { name: 'plain', dims: [3, 64], type: 'f32', produce: () => new Uint8Array(matrix.buffer) },
      ],
    );
    const info = await readGgufFileInfo(path, { logWarnings: false });
    expect(info.version).toBe(3);
    const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(metadata['general']?.['architecture']).toBe('llama');
    expect(metadata['general']?.['alignment']).toBe(ggufAlignment);
    expect(metadata['test']).toEqual({ count: 42, ratio: 0.5, names: ['a', 'ß', ''] });
    const tensors = info.tensorInfo ?? [];
    expect(tensors.map((tensor) => tensor.name)).toEqual(['odd', 'matrix', 'plain']);
    expect(tensors.map((tensor) => tensor.dimensions.map(Number))).toEqual([[5], [64, 3], [64, 3]]);
    expect(tensors.map((tensor) => tensor.ggmlType)).toEqual([GgmlType.F32, GgmlType.Q4_0, GgmlType.F32]);
    // 20 bytes padded to 32, then 3 rows × 2 blocks × 18 bytes = 108 padded to 128.
    expect(tensors.map((tensor) => Number(tensor.offset))).toEqual([0, 32, 160]);
    for (const tensor of tensors) expect(Number(tensor.fileOffset) % ggufAlignment).toBe(0);
  });

  it('refuses a tensor whose produced bytes do not match its shape', () => {
    expect(() =>
      writeGguf(join(directory, 'bad.gguf'), new Map(), [
        { name: 'short', dims: [4], type: 'f32', produce: () => new Uint8Array(8) },
      ]),
    ).toThrow(/short: produced 8 bytes, expected 16/);
  });
});

describe('writeLlamaGguf', () => {
  it('names, shapes and types every tensor as llama.cpp expects; Q4_0 only where rows split into 32-blocks', async () => {
    const config: TextConfig = {
      vocabSize: 300,
      hiddenSize: 64,
      intermediateSize: 80,
      numLayers: 1,
      numHeads: 4,
      numKvHeads: 2,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      maxPositions: 128,
      bosTokenId: 1,
      eosTokenId: 2,
      padTokenId: 0,
    };
    const path = join(directory, 'llama.gguf');
    const weights = new RandomWeightSource(3, llamaWeightSpecs(config), 'test');
    writeLlamaGguf({ path, config, weights, vocabulary: placeholderVocabulary(300), fileType: 'q4_0' });
    const info = await readGgufFileInfo(path, { logWarnings: false });
    const llama = (info.metadata as unknown as Record<string, Record<string, unknown>>)['llama']!;
    expect(llama['embedding_length']).toBe(64);
    expect(llama['feed_forward_length']).toBe(80);
    expect(llama['attention']).toMatchObject({ head_count: 4, head_count_kv: 2 });
    expect(llama['rope']).toMatchObject({ dimension_count: 16, freq_base: 500000 });
    const shapes = Object.fromEntries(
      (info.tensorInfo ?? []).map((tensor) => [tensor.name, [tensor.dimensions.map(Number), tensor.ggmlType]]),
    );
    expect(shapes).toEqual({
      'token_embd.weight': [[64, 300], GgmlType.Q4_0],
      'blk.0.attn_norm.weight': [[64], GgmlType.F32],
      'blk.0.attn_q.weight': [[64, 64], GgmlType.Q4_0],
      'blk.0.attn_k.weight': [[64, 32], GgmlType.Q4_0],
      'blk.0.attn_v.weight': [[64, 32], GgmlType.Q4_0],
      'blk.0.attn_output.weight': [[64, 64], GgmlType.Q4_0],
      'blk.0.ffn_norm.weight': [[64], GgmlType.F32],
      'blk.0.ffn_gate.weight': [[64, 80], GgmlType.Q4_0],
      'blk.0.ffn_up.weight': [[64, 80], GgmlType.Q4_0],
      'blk.0.ffn_down.weight': [[80, 64], GgmlType.F32], // 80 inputs per row: not a multiple of 32
      'output_norm.weight': [[64], GgmlType.F32],
      'output.weight': [[64, 300], GgmlType.Q4_0],
    });
  });
});
