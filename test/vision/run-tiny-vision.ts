import { presets } from '../../workers/model/config.ts';
import { visionInputName, visionOutputName } from '../../workers/model/vision/vision-graph.ts';
import { createSession, tensor } from '../../workers/runtime/onnx-session.ts';

/** Runs a tiny-preset `vision.onnx` on the CPU for one image of `pixels` ([3, size, size]); the projected queries. */
export async function runTinyVision(path: string, pixels: Float32Array): Promise<Float32Array> {
  const { imageSize } = presets.tiny.vision;
  const session = await createSession(path, { executionProvider: 'cpu', threads: 1 });
  try {
    const result = await session.run({ [visionInputName]: tensor('float32', pixels, [1, 3, imageSize, imageSize]) });
    return result[visionOutputName]?.data as Float32Array;
  } finally {
    await session.release();
  }
}
