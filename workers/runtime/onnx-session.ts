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
  /**
   * Let idle intra-op threads spin-wait for work. Spinning wins a little on an otherwise idle machine but burns the
   * cores that Redis, the event loop and other processes need when they share the machine.
   * @defaultValue false
   */
  spinning?: boolean;
}

/** Loads a graph from a file path (so external data next to it is found). */
export async function createSession(path: string, options: SessionOptions): Promise<Session> {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    options.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
  return ort.InferenceSession.create(path, {
    executionProviders,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: options.spinning === true ? '1' : '0' } } },
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads, interOpNumThreads: 1 }),
  });
}

/** Makes a tensor over `data` (not copied). */
export function tensor(type: TensorType, data: ort.Tensor.DataType, dims: readonly number[]): Tensor {
  return new ort.Tensor(type, data as never, dims);
}

/** Name, element type and shape (numbers or symbolic names) of a graph input or output. */
export interface ValueDescription {
  name: string;
  /** The element type, or undefined for a non-tensor value. */
  type: string | undefined;
  shape: ReadonlyArray<number | string>;
}

/** The declared inputs or outputs of a session. */
export function describeValues(session: Session, which: 'inputs' | 'outputs'): ValueDescription[] {
  const metadata = which === 'inputs' ? session.inputMetadata : session.outputMetadata;
  return metadata.map((value) =>
    value.isTensor
      ? { name: value.name, type: value.type, shape: value.shape }
      : { name: value.name, type: undefined, shape: [] },
  );
}

/** Feeds of one run, by input name. */
export type Feeds = Record<string, Tensor>;

/**
 * Runs a session. `outputs` names the outputs to fetch; an output given as a tensor is written into that tensor's
 * memory (pre-allocated output), which lets a KV-cache output share its buffer with the matching input.
 */
export async function runSession(
  session: Session,
  feeds: Feeds,
  outputs: Record<string, Tensor | null>,
): Promise<Record<string, Tensor>> {
  return session.run(feeds, outputs);
}
