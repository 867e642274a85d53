import { join } from 'node:path';
import { ModelDirectoryError, type ModelManifest } from '../model/manifest.ts';
import { visionInputName, visionOutputName } from '../model/vision/vision-graph.ts';
import {
  createSession,
  describeValues,
  type ExecutionProvider,
  runSession,
  type Session,
  tensor,
} from '../runtime/onnx-session.ts';

/** How to load the vision tower. */
export interface VisionEncoderOptions {
  executionProvider: ExecutionProvider;
  /** Intra-op threads on CPU. @defaultValue onnxruntime's choice (all cores) */
  threads?: number;
}

/** `vision.onnx`: normalized pixels in, the projected query vectors (placed before the text) out. */
export class VisionEncoder {
  private constructor(
    private readonly session: Session,
    /** Image vectors per picture (the Q-Former's queries, 32 for BLIP-2). */
    readonly imageSlots: number,
    /** Width of each vector: the decoder's hidden size. */
    readonly hiddenSize: number,
    private readonly imageSize: number,
  ) {}

  /** Opens the model directory's vision graph and checks its input and output against `model.json`. */
  static async load(directory: string, manifest: ModelManifest, options: VisionEncoderOptions): Promise<VisionEncoder> {
    const file = manifest.files.vision;
    const vision = manifest.vision;
    if (file === undefined || vision === undefined) {
      throw new ModelDirectoryError(directory, 'model.json', 'no vision graph (files.vision and vision are required)');
    }
    let session: Session;
    try {
      session = await createSession(join(directory, file), {
        executionProvider: options.executionProvider,
        ...(options.threads === undefined ? {} : { threads: options.threads }),
      });
    } catch (error) {
      throw new ModelDirectoryError(directory, file, `onnxruntime cannot load it: ${(error as Error).message}`);
    }
    const input = describeValues(session, 'inputs').find((value) => value.name === visionInputName);
    const output = describeValues(session, 'outputs').find((value) => value.name === visionOutputName);
    const problem =
      input === undefined
        ? `input ${visionInputName} missing`
        : output === undefined
          ? `output ${visionOutputName} missing`
          : input.type !== 'float32' || output.type !== 'float32'
            ? `${visionInputName} and ${visionOutputName} must be float32`
            : vision.projectionSize !== manifest.text.hiddenSize
              ? `vision.projectionSize ${vision.projectionSize} differs from text.hiddenSize ${manifest.text.hiddenSize}`
              : undefined;
    if (problem !== undefined) {
      await session.release();
      throw new ModelDirectoryError(directory, file, problem);
    }
    return new VisionEncoder(
      session,
      vision.qformer.numQueries,
      vision.projectionSize,
      manifest.preprocessing.imageSize,
    );
  }

  /** Runs the tower on one preprocessed image `[3, size, size]`; returns `[imageSlots, hiddenSize]` vectors. */
  async encode(pixels: Float32Array, signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    const [embeddings] = await this.encodeBatch([pixels]);
    signal?.throwIfAborted();
    return embeddings!;
  }

  /** Runs the tower once over several preprocessed images; returns each image's `[imageSlots, hiddenSize]` vectors. */
  async encodeBatch(images: readonly Float32Array[]): Promise<Float32Array[]> {
    const size = this.imageSize;
    const perImage = 3 * size * size;
    const batch = new Float32Array(images.length * perImage);
    images.forEach((pixels, index) => {
      batch.set(pixels, index * perImage);
    });
    const input = tensor('float32', batch, [images.length, 3, size, size]);
    const outputs = await runSession(this.session, { [visionInputName]: input }, { [visionOutputName]: null });
    const embeddings = outputs[visionOutputName]!.data as Float32Array;
    const perOutput = this.imageSlots * this.hiddenSize;
    if (embeddings.length !== images.length * perOutput) {
      throw new Error(
        `${visionOutputName} has ${embeddings.length} values, expected ${images.length}×${this.imageSlots}×${this.hiddenSize}`,
      );
    }
    return images.map((_, index) => embeddings.slice(index * perOutput, (index + 1) * perOutput));
  }

  /** Releases the session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
