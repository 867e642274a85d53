import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presets } from '../../workers/model/config.ts';
import {
  BuildProgress,
  type BuildProgressEvent,
  formatProgress,
  throttleProgress,
} from '../../workers/model/progress.ts';
import {
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fromBfloat16,
  toBfloat16,
  toFloat16,
} from '../../workers/model/quantize/float16.ts';
import { dequantizeInt4, quantizeInt4 } from '../../workers/model/quantize/int4-block-quantizer.ts';
import { CheckpointConfigError, textConfigFromHf } from '../../workers/model/weights/hf-llama-config.ts';
import { llamaWeightSpecs } from '../../workers/model/weights/llama-weight-specs.ts';
import { fillNormal } from '../../workers/model/weights/random-weights.ts';
import { SafetensorsWeightSource } from '../../workers/model/weights/safetensors-source.ts';
import { writeSafetensors } from './builder-test-support.ts';

const temporary = mkdtempSync(join(tmpdir(), 'builder-units-'));
afterAll(() => rmSync(temporary, { recursive: true, force: true }));

describe('int4 block quantizer', () => {
  it('packs the earlier element in the low nibble, maps the extreme to -8 and pads the last block', () => {
    const weight = Float32Array.from([-4, 1, 0.5, 3.5, ...Array(28).fill(0), 2, -1]);
    const quantized = quantizeInt4(weight, 1, 34, 32);
    expect(quantized.scales).toEqual(Float32Array.from([0.5, -0.25]));
    // codes: -4/0.5 = -8 → 0; 1/0.5 = 2 → 10; 0.5 → 1 → 9; 3.5 → 7 → 15.
    expect([...quantized.packed.subarray(0, 2)]).toEqual([0 | (10 << 4), 9 | (15 << 4)]);
    // Block 2: 2/-0.25 = -8 → 0, -1/-0.25 = 4 → 12, then zero padding (code 8).
    expect([...quantized.packed.subarray(16, 18)]).toEqual([0 | (12 << 4), 8 | (8 << 4)]);
    expect(dequantizeInt4(quantized)).toEqual(weight);
  });

  it('keeps every value within half a step of its block scale, except those clipped at code +7', () => {
    const weight = new Float32Array(8 * 96);
    fillNormal(weight, 5, 'quantizer test', 0, 0.3);
    const quantized = quantizeInt4(weight, 8, 96, 32);
    const restored = dequantizeInt4(quantized);
    let clipped = 0;
    for (let index = 0; index < weight.length; index++) {
      const scale = quantized.scales[Math.floor(index / 32)]!;
      const error = Math.abs(restored[index]! - weight[index]!);
      // The range is [-8, 7] steps: values beyond +7.5 steps (opposite the block's extreme) lose up to one step.
      if (weight[index]! / scale > 7.5) {
        clipped++;
        expect(error).toBeLessThanOrEqual(Math.abs(scale) + 1e-6);
      } else {
        expect(error).toBeLessThanOrEqual(Math.abs(scale) / 2 + 1e-6);
      }
    }
    expect(clipped).toBeLessThan(weight.length / 32);
  });
});

describe('half-precision conversions', () => {
  it('rounds float16 to nearest even and handles the edges', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(1);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway, ties to even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (const value of [0.1, -Math.PI, 1e-4, 1000.5]) {
      expect(Math.abs(float16BitsToFloat32(float32ToFloat16Bits(value)) - value)).toBeLessThan(Math.abs(value) / 1024);
    }
  });

  it('converts arrays exactly as the scalar conversion does, edge cases included', () => {
    const values = new Float32Array(4096);
    fillNormal(values, 1, 'float16 array', 0, 3);
    values.set([0, -0, 65504, 65519, 65520, 1e-8, 6.1e-5, 2 ** -14, -(2 ** -24), Number.POSITIVE_INFINITY, Number.NaN]);
    values.set([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2047.5, 2048.5], 100);
    expect([...toFloat16(values)]).toEqual(Array.from(values, (value) => float32ToFloat16Bits(value)));
  });

  it('round-trips bfloat16 with round to nearest even', () => {
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1); 1 + 3·2^-8 rounds up.
    const values = Float32Array.from([1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
    expect([...fromBfloat16(toBfloat16(values))]).toEqual([1, -2.5, 1, 1 + 2 ** -6]);
    const large = fromBfloat16(toBfloat16(Float32Array.from([3.0e38])))[0]!;
    expect(Math.abs(large - 3.0e38) / 3.0e38).toBeLessThan(2 ** -8);
  });
});

describe('Hugging Face LLaMA config', () => {
  it('maps fields and applies LlamaConfig defaults', () => {
    const config = textConfigFromHf(
      {
        model_type: 'llama',
        hidden_size: 5120,
        intermediate_size: 13824,
        num_hidden_layers: 40,
        num_attention_heads: 40,
        vocab_size: 39424,
        pad_token_id: -1,
        eos_token_id: [2, 3],
      },
      'config.json',
    );
    expect(config).toEqual({ ...presets['ziya-14b'].text, padTokenId: 0 });
  });

  it('reads the text part of a BLIP-2 config and rejects non-LLaMA models', () => {
    const text = {
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 176,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      vocab_size: 32000,
    };
    expect(textConfigFromHf({ model_type: 'blip-2', text_config: text }, 'c.json').numKvHeads).toBe(2);
    expect(() => textConfigFromHf({ ...text, model_type: 'opt' }, 'c.json')).toThrow(CheckpointConfigError);
    expect(() => textConfigFromHf({ ...text, hidden_act: 'gelu' }, 'c.json')).toThrow('c.json: hidden_act "gelu"');
    expect(() => textConfigFromHf({ model_type: 'llama' }, 'c.json')).toThrow(
      /c\.json: not a LLaMA config: hidden_size/,
    );
  });
});

describe('SafetensorsWeightSource', () => {
  it('reads F32, F16 and BF16 tensors from a single file and names files in errors', () => {
    const directory = join(temporary, 'single');
    mkdirSync(directory);
    const values = Float32Array.from([0.5, -1.25, 3, 1024]);
    writeSafetensors(join(directory, 'model.safetensors'), [
      { name: 'a', dtype: 'F32', tensor: { dims: [2, 2], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) } },
      { name: 'b', dtype: 'F16', tensor: { dims: [4], data: values } },
      { name: 'language_model.c', dtype: 'BF16', tensor: { dims: [1, 4], data: values } },
    ]);
    const source = new SafetensorsWeightSource(directory);
    try {
      expect(source.get('a')).toEqual({ dims: [2, 2], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) });
      expect(source.get('b').data).toEqual(values);
      // BLIP-2 checkpoints keep the LLaMA under `language_model.`.
      expect(source.has('c')).toBe(true);
      expect(source.get('c')).toEqual({ dims: [1, 4], data: values });
      expect(() => source.get('d')).toThrow(`tensor d not found in ${directory} (searched model.safetensors)`);
    } finally {
      source.close();
    }
  });
});

describe('random LLaMA weight specs', () => {
  it('uses HF names and [out, in] shapes with grouped key/value heads', () => {
    const specs = llamaWeightSpecs(presets.tiny.text);
    expect(specs.size).toBe(2 * 9 + 3);
    expect(specs.get('model.layers.1.self_attn.k_proj.weight')!.dims).toEqual([32, 64]);
    expect(specs.get('model.layers.0.mlp.down_proj.weight')!.dims).toEqual([64, 176]);
    expect(specs.get('lm_head.weight')!.dims).toEqual([32000, 64]);
  });
});

describe('build progress', () => {
  it('estimates the time left from parameters and throttles printing', () => {
    const events: BuildProgressEvent[] = [];
    const progress = new BuildProgress(3, 100, (event) => events.push(event));
    progress.begin('decoder');
    progress.tensorDone(25);
    expect(events.at(-1)!.secondsLeft).toBeCloseTo(events.at(-1)!.elapsedSeconds * 3, 5);
    expect(
      formatProgress({
        ...events.at(-1)!,
        bytesWritten: 3 * 1024 ** 3,
        bytesPerSecond: 2 * 1024 ** 2,
        secondsLeft: 125,
      }),
    ).toBe('decoder: tensors 1/3, 3.0 GiB written, 2.0 MiB/s, about 2m5s left');
    const printed: BuildProgressEvent[] = [];
    const throttled = throttleProgress((event) => printed.push(event), 60_000);
    for (const event of [...events, ...events, ...events]) throttled(event);
    expect(printed.map((event) => event.tensorsDone)).toEqual([0]);
    // The last tensor of a build always gets its line.
    throttled({ ...events.at(-1)!, tensorsDone: 3 });
    expect(printed.map((event) => event.tensorsDone)).toEqual([0, 3]);
  });
});
