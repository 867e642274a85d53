// Writes checkpoints byte-for-byte in the layout `torch.save(state_dict, path)` produces (torch ≥ 1.6 zip format,
// pickle protocol 2), so the PyTorch reader can be tested without Python: an uncompressed zip whose members are
// `<archive>/data.pkl`, `<archive>/byteorder`, `<archive>/data/<key>` (64-byte aligned through an "FB" padding extra
// field, as PyTorchStreamWriter does) and `<archive>/version`, with ZIP64 records when asked for.
import { writeFileSync } from 'node:fs';
import { toBfloat16, toFloat16 } from '../../workers/model/quantize/float16.ts';

/** One tensor to save. Tensors naming the same `storage` share one storage, laid out in order (views). */
export interface TorchTensorSpec {
  name: string;
  dims: readonly number[];
  data: Float32Array;
  dtype?: 'float32' | 'float16' | 'bfloat16';
  storage?: string;
  /** The storage class name written instead of the dtype's (a crafted, hostile checkpoint). */
  storageClass?: string;
}

/** Options of `writeTorchCheckpoint`. */
export interface TorchSaveOptions {
  /** Top-level folder inside the zip (torch uses the file name's stem, `archive` for file objects). */
  archiveName?: string;
  /** Write ZIP64 extra fields and end records even though the file is small. */
  zip64?: boolean;
  /** Wrap the state dict as `{'model': state_dict}`, as LAVIS training checkpoints do. */
  nestUnder?: string;
}

const storageClassNames = { float32: 'FloatStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage' } as const;

class PickleWriter {
  private readonly chunks: number[] = [];
  private memoCount = 0;
  private readonly memoByKey = new Map<string, number>();

  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
  op(...codes: number[]): void {
    this.chunks.push(...codes);
  }
  put(): number {
    const index = this.memoCount++;
    if (index < 256) this.op(0x71, index);
    else this.op(0x72, index & 0xff, (index >> 8) & 0xff, (index >> 16) & 0xff, index >>> 24);
    return index;
  }
  get(index: number): void {
    if (index < 256) this.op(0x68, index);
    else this.op(0x6a, index & 0xff, (index >> 8) & 0xff, (index >> 16) & 0xff, index >>> 24);
  }
  /** Emits an object once and BINGETs it afterwards, like pickle's memo for interned strings and classes. */
  memoized(key: string, emit: () => void): void {
    const existing = this.memoByKey.get(key);
    if (existing !== undefined) {
      this.get(existing);
      return;
    }
    emit();
    this.memoByKey.set(key, this.put());
  }
  unicode(text: string, memoize = true): void {
    const encoded = new TextEncoder().encode(text);
    const emit = () => {
      this.op(
        0x58,
        encoded.length & 0xff,
        (encoded.length >> 8) & 0xff,
        (encoded.length >> 16) & 0xff,
        encoded.length >>> 24,
      );
      this.op(...encoded);
    };
    if (memoize) this.memoized(`str:${text}`, emit);
    else {
      emit();
      this.put();
    }
  }
  global(module: string, name: string): void {
    this.memoized(`global:${module}.${name}`, () => this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)));
  }
  int(value: number): void {
    if (value >= 0 && value < 256) this.op(0x4b, value);
    else if (value >= 0 && value < 65536) this.op(0x4d, value & 0xff, value >> 8);
    else if (value >= -(2 ** 31) && value < 2 ** 31) {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setInt32(0, value, true);
      this.op(0x4a, ...bytes);
    } else {
      let big = BigInt(value);
      const bytes: number[] = [];
      while (big !== 0n && big !== -1n) {
        bytes.push(Number(big & 0xffn));
        big >>= 8n;
      }
      this.op(0x8a, bytes.length, ...bytes);
    }
  }
  tuple(values: readonly number[]): void {
    if (values.length === 0) this.op(0x29);
    else if (values.length <= 3) {
      for (const value of values) this.int(value);
      this.op([0x85, 0x86, 0x87][values.length - 1] ?? 0);
    } else {
      this.op(0x28);
      for (const value of values) this.int(value);
      this.op(0x74);
    }
    if (values.length > 0) this.put();
  }
}

/** Builds `data.pkl` for an OrderedDict state dict of `_rebuild_tensor_v2` tensors plus its `_metadata`. */
function statePickle(
  tensors: readonly {
    name: string;
    dims: readonly number[];
    dtype: keyof typeof storageClassNames;
    storageClass?: string | undefined;
    key: string;
    offset: number;
    storageNumel: number;
  }[],
  nestUnder: string | undefined,
): Uint8Array {
  const pickle = new PickleWriter();
  pickle.op(0x80, 2);
  if (nestUnder !== undefined) {
    pickle.op(0x7d);
    pickle.put();
    pickle.unicode(nestUnder);
  }
  pickle.global('collections', 'OrderedDict');
  const orderedDict = 0 + (nestUnder === undefined ? 0 : 2);
  pickle.op(0x29, 0x52);
  pickle.put();
  // Python's pickler writes dict items in batches of 1000 per MARK … SETITEMS.
  for (let batch = 0; batch < tensors.length; batch += 1000) {
    pickle.op(0x28);
    for (const tensor of tensors.slice(batch, batch + 1000)) {
      pickle.unicode(tensor.name, false);
      pickle.global('torch._utils', '_rebuild_tensor_v2');
      pickle.op(0x28); // MARK: the args tuple
      pickle.op(0x28); // MARK: the persistent id tuple
      pickle.unicode('storage');
      pickle.global('torch', tensor.storageClass ?? storageClassNames[tensor.dtype]);
      pickle.unicode(tensor.key);
      pickle.unicode('cpu');
      pickle.int(tensor.storageNumel);
      pickle.op(0x74);
      pickle.put();
      pickle.op(0x51); // BINPERSID
      pickle.int(tensor.offset);
      pickle.tuple(tensor.dims);
      const strides = tensor.dims.map((_, axis) =>
        tensor.dims.slice(axis + 1).reduce((product, size) => product * size, 1),
      );
      pickle.tuple(strides);
      pickle.op(0x89); // requires_grad False
      pickle.get(orderedDict); // backward_hooks = OrderedDict()
      pickle.op(0x29, 0x52);
      pickle.put();
      pickle.op(0x74);
      pickle.put();
      pickle.op(0x52);
      pickle.put();
    }
    pickle.op(0x75);
  }
  // state: {'_metadata': OrderedDict([('', {'version': 1})])}, applied with BUILD.
  pickle.op(0x7d);
  pickle.put();
  pickle.unicode('_metadata');
  pickle.get(orderedDict);
  pickle.op(0x29, 0x52);
  pickle.put();
  pickle.op(0x28);
  pickle.unicode('');
  pickle.op(0x7d);
  pickle.put();
  pickle.unicode('version');
  pickle.int(1);
  pickle.op(0x73, 0x75, 0x73, 0x62);
  if (nestUnder !== undefined) pickle.op(0x73);
  pickle.op(0x2e);
  return pickle.bytes();
}

const crcTable = Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (crcTable[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** An uncompressed zip with 64-byte aligned member data, optionally with ZIP64 records. */
function zipStored(members: readonly { name: string; data: Uint8Array }[], zip64: boolean): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, 'utf8');
    const crc = crc32(member.data);
    const zip64Local = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (zip64) {
      zip64Local.writeUInt16LE(0x0001, 0);
      zip64Local.writeUInt16LE(16, 2);
      zip64Local.writeBigUInt64LE(BigInt(member.data.length), 4);
      zip64Local.writeBigUInt64LE(BigInt(member.data.length), 12);
    }
    const unpadded = offset + 30 + name.length + zip64Local.length + 4;
    const padding = (64 - (unpadded % 64)) % 64;
    const padExtra = Buffer.alloc(4 + padding, 0x5a);
    padExtra.writeUInt16LE(0x4246, 0); // "FB"
    padExtra.writeUInt16LE(padding, 2);
    const extra = Buffer.concat([zip64Local, padExtra]);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(zip64 ? 0xffffffff : member.data.length, 18);
    local.writeUInt32LE(zip64 ? 0xffffffff : member.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, Buffer.from(member.data));
    const centralExtra = zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (zip64) {
      centralExtra.writeUInt16LE(0x0001, 0);
      centralExtra.writeUInt16LE(24, 2);
      centralExtra.writeBigUInt64LE(BigInt(member.data.length), 4);
      centralExtra.writeBigUInt64LE(BigInt(member.data.length), 12);
      centralExtra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const header = Buffer.alloc(46);
    header.writeUInt32LE(0x02014b50, 0);
    header.writeUInt16LE(zip64 ? 45 : 20, 4);
    header.writeUInt16LE(zip64 ? 45 : 20, 6);
    header.writeUInt32LE(crc, 16);
    header.writeUInt32LE(zip64 ? 0xffffffff : member.data.length, 20);
    header.writeUInt32LE(zip64 ? 0xffffffff : member.data.length, 24);
    header.writeUInt16LE(name.length, 28);
    header.writeUInt16LE(centralExtra.length, 30);
    header.writeUInt32LE(zip64 ? 0xffffffff : offset, 42);
    central.push(header, name, centralExtra);
    offset += 30 + name.length + extra.length + member.data.length;
  }
  const directory = Buffer.concat(central);
  const directoryOffset = offset;
  const trailer: Buffer[] = [];
  if (zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeUInt16LE(45, 12);
    record.writeUInt16LE(45, 14);
    record.writeBigUInt64LE(BigInt(members.length), 24);
    record.writeBigUInt64LE(BigInt(members.length), 32);
    record.writeBigUInt64LE(BigInt(directory.length), 40);
    record.writeBigUInt64LE(BigInt(directoryOffset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(directoryOffset + directory.length), 8);
    locator.writeUInt32LE(1, 16);
    trailer.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(zip64 ? 0xffff : members.length, 8);
  end.writeUInt16LE(zip64 ? 0xffff : members.length, 10);
  end.writeUInt32LE(zip64 ? 0xffffffff : directory.length, 12);
  end.writeUInt32LE(zip64 ? 0xffffffff : directoryOffset, 16);
  return Buffer.concat([...parts, directory, ...trailer, end]);
}

function storageBytes(data: Float32Array, dtype: keyof typeof storageClassNames): Uint8Array {
  if (dtype === 'float32') return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return new Uint8Array((dtype === 'float16' ? toFloat16(data) : toBfloat16(data)).buffer);
}

/** Writes `tensors` as `torch.save(OrderedDict(...), path)` would. */
export function writeTorchCheckpoint(
  path: string,
  tensors: readonly TorchTensorSpec[],
  options: TorchSaveOptions = {},
): void {
  const archive = options.archiveName ?? 'archive';
  const storages = new Map<
    string,
    { key: string; dtype: keyof typeof storageClassNames; chunks: Float32Array[]; numel: number }
  >();
  const records: Parameters<typeof statePickle>[0][number][] = [];
  for (const tensor of tensors) {
    const dtype = tensor.dtype ?? 'float32';
    const group = tensor.storage ?? `own:${tensor.name}`;
    let storage = storages.get(group);
    if (!storage) {
      storage = { key: String(storages.size), dtype, chunks: [], numel: 0 };
      storages.set(group, storage);
    }
    if (storage.dtype !== dtype) throw new Error(`storage ${group} mixes dtypes`);
    records.push({
      name: tensor.name,
      dims: tensor.dims,
      dtype,
      storageClass: tensor.storageClass,
      key: storage.key,
      offset: storage.numel,
      storageNumel: 0,
    });
    storage.chunks.push(tensor.data);
    storage.numel += tensor.data.length;
  }
  const numelByKey = new Map([...storages.values()].map((storage) => [storage.key, storage.numel]));
  for (const record of records) record.storageNumel = numelByKey.get(record.key) ?? 0;
  const members = [{ name: `${archive}/data.pkl`, data: statePickle(records, options.nestUnder) }];
  members.push({ name: `${archive}/byteorder`, data: new TextEncoder().encode('little') });
  for (const storage of storages.values()) {
    const joined = new Float32Array(storage.numel);
    let position = 0;
    for (const chunk of storage.chunks) {
      joined.set(chunk, position);
      position += chunk.length;
    }
    members.push({ name: `${archive}/data/${storage.key}`, data: storageBytes(joined, storage.dtype) });
  }
  members.push({ name: `${archive}/version`, data: new TextEncoder().encode('3\n') });
  members.push({
    name: `${archive}/.data/serialization_id`,
    data: new TextEncoder().encode('1234567890123456789012345678901234567890'),
  });
  writeFileSync(path, zipStored(members, options.zip64 ?? false));
}
