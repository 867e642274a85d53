import { ModelDirectoryError, type ModelManifest } from '../model/manifest.ts';
import type { ExecutionProvider } from './onnx-session.ts';

/**
 * Why a model directory's decoder cannot run on an execution provider, or undefined when it can. Read from
 * `model.json` (dtype, decoder padding), so a wrong pairing fails at load with what to rebuild, not mid-reply
 * inside onnxruntime.
 * - `cuda`: GroupQueryAttention's CUDA kernels are fp16/bf16 only and refuse `attention_bias`: an `fp16` or
 *   `int4-fp16` decoder built with `--padding right` (`int4` and `fp32` builds compute in float32).
 * - `webgpu`: the cache stays on the device at a fixed capacity, which needs GQA's per-row lengths: `--padding right`.
 * - `cpu`: every build.
 */
export function providerIncompatibility(
  manifest: Pick<ModelManifest, 'dtype' | 'decoderPadding'>,
  provider: ExecutionProvider,
): string | undefined {
  const problems: string[] = [];
  const flags: string[] = [];
  if (provider === 'cuda' && manifest.dtype !== 'fp16' && manifest.dtype !== 'int4-fp16') {
    problems.push(`dtype ${manifest.dtype} computes in float32, which CUDA's GroupQueryAttention has no kernel for`);
    flags.push(manifest.dtype === 'int4' ? '--dtype int4-fp16' : '--dtype fp16');
  }
  if ((provider === 'cuda' || provider === 'webgpu') && manifest.decoderPadding !== 'right') {
    problems.push(
      provider === 'cuda'
        ? "decoder padding 'any' feeds GroupQueryAttention an attention_bias, which the CUDA kernels refuse"
        : "decoder padding 'any' cannot keep a fixed-capacity cache on the device (it needs per-row lengths)",
    );
    flags.push('--padding right');
  }
  if (problems.length === 0) return undefined;
  return `cannot run on the ${provider} execution provider: ${problems.join('; ')}. Rebuild the model directory with \`build-model ${flags.join(' ')}\``;
}

/** Throws a {@link ModelDirectoryError} on `model.json` when the decoder cannot run on `provider`. */
export function checkProviderCompatibility(directory: string, manifest: ModelManifest, provider: ExecutionProvider) {
  const problem = providerIncompatibility(manifest, provider);
  if (problem !== undefined) throw new ModelDirectoryError(directory, 'model.json', problem);
}
