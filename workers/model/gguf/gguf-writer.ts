import { closeSync, openSync, writeSync } from 'node:fs';

/** GGML tensor types this writer can store. */
export const ggmlType = { f32: 0, f16: 1, q4_0: 2 } as const;

/** A GGML tensor type's name. */
export type GgmlTypeName = keyof typeof ggmlType;

/** GGUF metadata value types (`gguf_type` in ggml's gguf.h). */
const valueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** A typed metadata value: GGUF stores the type next to every value, so the caller picks it. */
export type GgufValue =
  | { type: 'uint32'; value: number }
  | { type: 'int32'; value: number }
  | { type: 'float32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'uint64'; value: bigint }
  | { type: 'stringArray'; value: readonly string[] }
  | { type: 'float32Array'; value: Float32Array }
  | { type: 'int32Array'; value: Int32Array };

/** One tensor to write: its bytes are produced only when the writer reaches it, so files larger than memory stream. */
export interface GgufTensor {
  /** GGML name (`blk.0.attn_q.weight`). */
  name: string;
  /** Shape in PyTorch order (`[out, in]`); the file stores it reversed, innermost first, as GGML does. */
  dims: readonly number[];
  type: GgmlTypeName;
  /** Produces the tensor's bytes in GGML layout; called once, in file order. */
  produce: () => Uint8Array;
}

/** The file's data alignment (`general.alignment`, GGUF's default). */
export const ggufAlignment = 32;

/** Byte size of a tensor of `elements` values of a GGML type (Q4_0: blocks of 32 values in 18 bytes). */
export function ggmlByteSize(type: GgmlTypeName, dims: readonly number[]): number {
  const elements = dims.reduce((product, size) => product * size, 1);
  if (type === 'f32') return elements * 4;
  if (type === 'f16') return elements * 2;
  const rowLength = dims[dims.length - 1] ?? 1;
  if (rowLength % 32 !== 0) throw new Error(`q4_0 rows must hold a multiple of 32 values, not ${rowLength}`);
  return (elements / 32) * 18;
}

/** Grows a byte buffer while the header is assembled. */
class ByteSink {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  uint32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  int32(value: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, value, true);
    this.length += 4;
  }

  uint64(value: bigint | number): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(value), true);
    this.length += 8;
  }

  float32(value: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  uint8(value: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.uint64(bytes.length);
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  padTo(alignment: number): void {
    const padding = (alignment - (this.length % alignment)) % alignment;
    this.reserve(padding);
    this.buffer.fill(0, this.length, this.length + padding);
    this.length += padding;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

function writeValue(sink: ByteSink, entry: GgufValue): void {
  switch (entry.type) {
    case 'uint32':
      sink.uint32(valueType.uint32);
      sink.uint32(entry.value);
      return;
    case 'int32':
      sink.uint32(valueType.int32);
      sink.int32(entry.value);
      return;
    case 'float32':
      sink.uint32(valueType.float32);
      sink.float32(entry.value);
      return;
    case 'bool':
      sink.uint32(valueType.bool);
      sink.uint8(entry.value ? 1 : 0);
      return;
    case 'string':
      sink.uint32(valueType.string);
      sink.string(entry.value);
      return;
    case 'uint64':
      sink.uint32(valueType.uint64);
      sink.uint64(entry.value);
      return;
    case 'stringArray':
      sink.uint32(valueType.array);
      sink.uint32(valueType.string);
      sink.uint64(entry.value.length);
      for (const item of entry.value) sink.string(item);
      return;
    case 'float32Array':
      sink.uint32(valueType.array);
      sink.uint32(valueType.float32);
      sink.uint64(entry.value.length);
      for (const item of entry.value) sink.float32(item);
      return;
    case 'int32Array':
      sink.uint32(valueType.array);
      sink.uint32(valueType.int32);
      sink.uint64(entry.value.length);
      for (const item of entry.value) sink.int32(item);
      return;
  }
}

/**
 * Writes a GGUF v3 file (little-endian): header, metadata, tensor infos, then each tensor's data aligned to 32
 * bytes. Tensor data is produced and written one tensor at a time, so memory stays at one tensor.
 */
export function writeGguf(
  path: string,
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensor[],
): { bytes: number } {
  const header = new ByteSink();
  header.uint32(0x46554747); // "GGUF" read as a little-endian uint32
  header.uint32(3);
  header.uint64(tensors.length);
  const withAlignment = new Map(metadata);
  withAlignment.set('general.alignment', { type: 'uint32', value: ggufAlignment });
  header.uint64(withAlignment.size);
  for (const [key, entry] of withAlignment) {
    header.string(key);
    writeValue(header, entry);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const tensor of tensors) {
    const size = ggmlByteSize(tensor.type, tensor.dims);
    sizes.push(size);
    header.string(tensor.name);
    header.uint32(tensor.dims.length);
    for (const size of [...tensor.dims].reverse()) header.uint64(size);
    header.uint32(ggmlType[tensor.type]);
    header.uint64(offset);
    offset += size + ((ggufAlignment - (size % ggufAlignment)) % ggufAlignment);
  }
  header.padTo(ggufAlignment);
  const descriptor = openSync(path, 'w');
  let written = 0;
  const writeAll = (bytes: Uint8Array): void => {
    let done = 0;
    while (done < bytes.length) done += writeSync(descriptor, bytes, done, bytes.length - done);
    written += bytes.length;
  };
  try {
    writeAll(header.bytes());
    const padding = new Uint8Array(ggufAlignment);
    tensors.forEach((tensor, index) => {
      const bytes = tensor.produce();
      if (bytes.length !== sizes[index]) {
        throw new Error(`tensor ${tensor.name}: produced ${bytes.length} bytes, expected ${sizes[index]}`);
      }
      writeAll(bytes);
      writeAll(padding.subarray(0, (ggufAlignment - (bytes.length % ggufAlignment)) % ggufAlignment));
    });
  } finally {
    closeSync(descriptor);
  }
  return { bytes: written };
}
