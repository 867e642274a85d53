// The one file that imports onnxruntime-node: everything else talks to the runtime through these functions.
import * as ort from 'onnxruntime-node';

/** Where a session runs. */
export type ExecutionProvider = 'cpu' | 'cuda';

/** Tensor element types used across the runtime. */
export type TensorType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

/** A tensor handed to or returned by a session. */
export type Tensor = ort.Tensor;

/** A loaded ONNX graph. */
export type Session = ort.InferenceSession;

/** Options for loading a graph. */
export interface SessionOptions {
  executionProvider: ExecutionProvider;
  /** Intra-op threads on CPU; defaults to onnxruntime's choice (all cores). */
  threads?: number;
}

/** Loads a graph from a file path (so external data next to it is found). */
export async function createSession(path: string, options: SessionOptions): Promise<Session> {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    options.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
  return ort.InferenceSession.create(path, {
    executionProviders,
    graphOptimizationLevel: 'all',
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads }),
  });
}

/** Makes a tensor over `data` (not copied). */
export function tensor(type: TensorType, data: ort.Tensor.DataType, dims: readonly number[]): Tensor {
  return new ort.Tensor(type, data as never, dims);
}
