import { describe, expect, it } from 'vitest';
import { providerIncompatibility } from '../../workers/runtime/provider-compatibility.ts';

describe('providerIncompatibility', () => {
  it('runs every build on cpu', () => {
    for (const dtype of ['fp32', 'fp16', 'int4', 'int4-fp16'] as const) {
      for (const decoderPadding of ['any', 'right'] as const) {
        expect(providerIncompatibility({ dtype, decoderPadding }, 'cpu')).toBeUndefined();
      }
    }
  });

  it('on cuda needs fp16 activations (fp16 or int4-fp16) and right padding, and names the flags to rebuild with', () => {
    expect(providerIncompatibility({ dtype: 'fp16', decoderPadding: 'right' }, 'cuda')).toBeUndefined();
    expect(providerIncompatibility({ dtype: 'int4-fp16', decoderPadding: 'right' }, 'cuda')).toBeUndefined();
    expect(providerIncompatibility({ dtype: 'int4-fp16', decoderPadding: 'any' }, 'cuda')).toMatch(
      /^cannot run on the cuda execution provider: decoder padding 'any'.*build-model --padding right`$/,
    );
    // int4 with float32 activations: the int4 build with float16 activations is the one to make.
    expect(providerIncompatibility({ dtype: 'int4', decoderPadding: 'any' }, 'cuda')).toMatch(
      /int4 computes in float32.*attention_bias.*build-model --dtype int4-fp16 --padding right/,
    );
    expect(providerIncompatibility({ dtype: 'fp32', decoderPadding: 'right' }, 'cuda')).toMatch(/--dtype fp16`$/);
  });

  it('on webgpu needs right padding only', () => {
    expect(providerIncompatibility({ dtype: 'fp32', decoderPadding: 'right' }, 'webgpu')).toBeUndefined();
    expect(providerIncompatibility({ dtype: 'fp16', decoderPadding: 'any' }, 'webgpu')).toMatch(/--padding right`$/);
  });
});
