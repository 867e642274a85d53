// The one file that imports onnxruntime-node: everything else talks to the runtime through these functions.
import * as ort from 'onnxruntime-node';

// onnxruntime-common maps float16 tensors to `Float16Array` wherever that exists (Node 24 has it), but
// onnxruntime-node 1.30's binding cannot read one ("not enough space: expected 64, got 0"). The mapping is decided
// once, at the first tensor: make that decision with Float16Array hidden, so float16 data stays in a Uint16Array
// (its bits) as on Node 22, then put Float16Array back for everyone else.
const float16Array = Object.getOwnPropertyDescriptor(globalThis, 'Float16Array');
if (float16Array !== undefined) {
  Reflect.deleteProperty(globalThis, 'Float16Array');
  try {
    new ort.Tensor('float32', new Float32Array(1), [1]);
  } finally {
    Object.defineProperty(globalThis, 'Float16Array', float16Array);
  }
}

/**
 * Where a session runs. `webgpu` (bundled in onnxruntime-node on Linux x64; Vulkan underneath) is the only one whose
 * outputs can stay in device memory between runs (`deviceOutputs`); `cuda` copies every input and output each run.
 */
export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu';

/** The execution providers, for option parsing. */
export const executionProviders: readonly ExecutionProvider[] = ['cpu', 'cuda', 'webgpu'];

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
  /**
   * Outputs (on `webgpu`) to leave in device memory as `gpu-buffer` tensors, fed as inputs of later runs without
   * coming to JS. Never read such a tensor's data from JS: `getData()` on one aborts the process in onnxruntime-node
   * 1.30; run a graph whose output comes to the host instead. Pre-allocated device outputs are ignored (a run returns
   * new tensors), so device-resident state is chained: a run's outputs are the next run's inputs.
   */
  deviceOutputs?: readonly string[];
}

const providerChains: Record<ExecutionProvider, ort.InferenceSession.ExecutionProviderConfig[]> = {
  cpu: ['cpu'],
  cuda: ['cuda', 'cpu'],
  webgpu: ['webgpu', 'cpu'],
};

/** Loads a graph from a file path (so external data next to it is found), or from its bytes. */
export async function createSession(path: string | Uint8Array, options: SessionOptions): Promise<Session> {
  const deviceOutputs = options.executionProvider === 'webgpu' ? (options.deviceOutputs ?? []) : [];
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: providerChains[options.executionProvider],
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: options.spinning === true ? '1' : '0' } } },
    ...(options.threads === undefined ? {} : { intraOpNumThreads: options.threads, interOpNumThreads: 1 }),
    ...(deviceOutputs.length === 0
      ? {}
      : { preferredOutputLocation: Object.fromEntries(deviceOutputs.map((name) => [name, 'gpu-buffer' as const])) }),
  };
  return typeof path === 'string'
    ? ort.InferenceSession.create(path, sessionOptions)
    : ort.InferenceSession.create(path, sessionOptions);
}

/** Whether a tensor lives in device memory (a WebGPU `gpu-buffer` output): its data cannot be read from JS. */
export function isOnDevice(value: Tensor): boolean {
  return value.location === 'gpu-buffer';
}

/** Frees a device-resident tensor's memory now (host tensors are left to the garbage collector). */
export function releaseTensor(value: Tensor): void {
  if (isOnDevice(value)) value.dispose();
}

/** The execution providers this onnxruntime-node build can run (`bundled`: no extra install needed). */
export function supportedExecutionProviders(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends();
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
 * memory (pre-allocated output), which lets a KV-cache output share its buffer with the matching input. On the CPU,
 * inputs are read where they lie, but onnxruntime-node 1.30 also copies every output, pre-allocated or not, into a
 * new JS buffer that it returns: an output as large as a KV cache costs a copy of it each run.
 */
export async function runSession(
  session: Session,
  feeds: Feeds,
  outputs: Record<string, Tensor | null>,
): Promise<Record<string, Tensor>> {
  return session.run(feeds, outputs);
}
