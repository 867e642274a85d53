import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Element types the builders use, named as onnxruntime names its tensor types. */
export type ElementType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

const elementTypeCodes = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  bool: onnx.TensorProto.DataType.BOOL,
} as const satisfies Record<ElementType, number>;

/** A dimension: a fixed size, or a symbolic name such as `batch` or `sequence`. */
export type Dimension = number | string;

/** Attribute values a node can carry. Arrays of integers become INTS, of numbers FLOATS. */
export type AttributeValue =
  | number
  | string
  | number[]
  | { ints: number[] }
  | { floats: number[] }
  | { float: number }
  | { graph: onnxProto.onnx.IGraphProto };

/** The opset domains the graphs use. */
export const opsetImports = { '': 17, 'com.microsoft': 1 } as const;

/** Where `GraphBuilder` puts initializer bytes: one external-data file next to the `.onnx` file. */
export class ExternalDataWriter {
  readonly fileName: string;
  private readonly fd: number;
  private offset = 0;

  /**
   * @param path - the data file to create (its base name is what the model refers to)
   * @param onBytes - called after each tensor with the total bytes written so far
   */
  constructor(
    path: string,
    private readonly onBytes?: (bytesWritten: number) => void,
  ) {
    this.fileName = basename(path);
    this.fd = openSync(path, 'w');
  }

  /** Appends `bytes` at a 64-byte aligned offset and returns where they went. */
  append(bytes: Uint8Array): { offset: number; length: number } {
    const padding = (64 - (this.offset % 64)) % 64;
    if (padding > 0) {
      writeSync(this.fd, new Uint8Array(padding));
      this.offset += padding;
    }
    const offset = this.offset;
    let written = 0;
    while (written < bytes.byteLength) {
      written += writeSync(this.fd, bytes, written, Math.min(bytes.byteLength - written, 1 << 30));
    }
    this.offset += bytes.byteLength;
    this.onBytes?.(this.offset);
    return { offset, length: bytes.byteLength };
  }

  /** Total bytes in the file so far. */
  get bytesWritten(): number {
    return this.offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Where large initializers go: an {@link ExternalDataWriter}, or {@link inlineOnly} for graphs built in memory. */
export type InitializerSink = Pick<ExternalDataWriter, 'append' | 'fileName'>;

/** A sink for graphs that keep every initializer inline (pass `Infinity` as the inline limit): it takes no bytes. */
export const inlineOnly: InitializerSink = {
  fileName: '',
  append() {
    throw new Error('this graph keeps its initializers inline: give the GraphBuilder an inline limit of Infinity');
  },
};

function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function toAttribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use { float } for non-integer ${value}`);
    return { name, type: AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ('graph' in value) return { name, type: AttributeType.GRAPH, g: value.graph };
  return { name, type: AttributeType.FLOAT, f: value.float };
}

/** A value's type; without `shape`, of unknown rank (a branch output whose shape depends on the branch). */
function valueInfo(name: string, type: ElementType, shape?: readonly Dimension[]): onnxProto.onnx.IValueInfoProto {
  const dims = shape?.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return {
    name,
    type: { tensorType: { elemType: elementTypeCodes[type], ...(dims ? { shape: { dim: dims } } : {}) } },
  };
}

/**
 * Builds one ONNX graph node by node. Large initializers stream straight into an external-data file, so a
 * 26 GB model never sits in memory; small constants stay inline in the graph.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly usedNames: Set<string>;
  private readonly counter: { next: number };

  /**
   * @param name - the graph's name
   * @param data - where initializers of at least `inlineLimit` bytes go
   * @param inlineLimit - smaller initializers are stored inside the graph
   */
  constructor(
    readonly name: string,
    private readonly data: InitializerSink,
    private readonly inlineLimit = 1024,
    /** The enclosing graph's names (a subgraph's names must not clash with any of them). */
    scope?: { usedNames: Set<string>; counter: { next: number } },
  ) {
    this.usedNames = scope?.usedNames ?? new Set();
    this.counter = scope?.counter ?? { next: 0 };
  }

  /**
   * A graph nested in this one (a branch of `If`): it may read this graph's tensors by name, and its names are
   * unique across both. Give it to a node with `{ graph: sub.encodeGraph() }`.
   */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(name, this.data, this.inlineLimit, { usedNames: this.usedNames, counter: this.counter });
  }

  /** A fresh tensor name starting with `prefix`. */
  uniqueName(prefix: string): string {
    let name = prefix;
    while (this.usedNames.has(name)) name = `${prefix}_${++this.counter.next}`;
    this.usedNames.add(name);
    return name;
  }

  /** Declares a graph input. */
  input(name: string, type: ElementType, shape: readonly Dimension[]): string {
    this.usedNames.add(name);
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Declares a graph output (an existing tensor name); a subgraph's may leave the shape unknown. */
  output(name: string, type: ElementType, shape?: readonly Dimension[]): string {
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Adds a weight; its bytes go to the external-data file unless they are small. */
  initializer(name: string, type: ElementType, dims: readonly number[], data: ArrayBufferView): string {
    if (this.usedNames.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.usedNames.add(name);
    return this.storeInitializer(name, type, dims, data);
  }

  private storeInitializer(name: string, type: ElementType, dims: readonly number[], data: ArrayBufferView): string {
    const bytes = bytesOf(data);
    const tensor: onnxProto.onnx.ITensorProto = { name, dataType: elementTypeCodes[type], dims: [...dims] };
    if (bytes.byteLength < this.inlineLimit) {
      tensor.rawData = bytes.slice();
    } else {
      const { offset, length } = this.data.append(bytes);
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: this.data.fileName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ];
    }
    this.initializers.push(tensor);
    return name;
  }

  /** A small inline constant (shapes, axes, scalars). */
  constant(type: 'int64' | 'int32' | 'float32', dims: readonly number[], values: readonly number[], prefix = 'const') {
    const data =
      type === 'int64'
        ? BigInt64Array.from(values, (v) => BigInt(v))
        : type === 'int32'
          ? Int32Array.from(values)
          : Float32Array.from(values);
    return this.storeInitializer(this.uniqueName(prefix), type, dims, data);
  }

  /**
   * Adds a node and returns its output names. `outputs` is either the names to use or how many fresh names to make.
   */
  node(
    opType: string,
    inputs: readonly string[],
    options: {
      outputs?: readonly string[] | number;
      attributes?: Record<string, AttributeValue>;
      domain?: string;
      name?: string;
    } = {},
  ): string[] {
    const outputs =
      typeof options.outputs === 'object'
        ? [...options.outputs]
        : Array.from({ length: options.outputs ?? 1 }, () => this.uniqueName(`${options.name ?? opType}_out`));
    for (const output of outputs) this.usedNames.add(output);
    this.nodes.push({
      opType,
      input: [...inputs],
      output: outputs,
      name: this.uniqueName(options.name ?? opType),
      domain: options.domain ?? '',
      attribute: Object.entries(options.attributes ?? {}).map(([key, value]) => toAttribute(key, value)),
    });
    return outputs;
  }

  /** Like `node`, for the common single-output case. */
  op(
    opType: string,
    inputs: readonly string[],
    attributes?: Record<string, AttributeValue>,
    options: { domain?: string; name?: string; output?: string } = {},
  ): string {
    const [output] = this.node(opType, inputs, {
      ...(attributes ? { attributes } : {}),
      ...(options.domain ? { domain: options.domain } : {}),
      ...(options.name ? { name: options.name } : {}),
      ...(options.output ? { outputs: [options.output] } : {}),
    });
    return output!;
  }

  /** The finished graph (for a subgraph attribute; `encode` wraps the top-level one in a model). */
  encodeGraph(): onnxProto.onnx.IGraphProto {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
  }

  /** Serializes the finished model (the graph plus opset imports) to protobuf bytes. */
  encode(producer = 'ziya-visual-bot'): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: producer,
      opsetImport: Object.entries(opsetImports).map(([domain, version]) => ({ domain, version })),
      graph: this.encodeGraph(),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
