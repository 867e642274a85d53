import { decoderTakesDecodeStep } from '../model/decoder/decoder-contract.ts';
import type { DecoderModel } from './decoder-model.ts';
import type { ExecutionProvider } from './onnx-session.ts';

/**
 * What to tell an operator whose model directory could take decode steps but was built before them (a float32
 * right-padded build without `decode_step`): every batched step then copies the whole KV cache out. Undefined when
 * there is nothing to gain: the model has them, cannot have them (fp16 activations, `--padding any`), or runs on
 * `webgpu`, whose cache stays on the device anyway.
 */
export function decodeStepAdvice(
  model: Pick<DecoderModel, 'manifest' | 'decodeSteps'>,
  executionProvider: ExecutionProvider,
): string | undefined {
  const { manifest } = model;
  if (model.decodeSteps || executionProvider === 'webgpu') return undefined;
  if (!decoderTakesDecodeStep(manifest.dtype, manifest.decoderPadding)) return undefined;
  return (
    'this model directory was built before decode steps (its decoder has no decode_step input): every batched step ' +
    'copies the whole KV cache out of onnxruntime. Rebuild it with build-model (same flags) for steps that read the ' +
    'cache in place (4.2x faster at 8 rows x 512 positions of the small model)'
  );
}
