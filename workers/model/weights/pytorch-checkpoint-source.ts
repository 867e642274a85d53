import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fromBfloat16, fromFloat16 } from '../quantize/float16.ts';
import { PickleFormatError, type PickleGlobal, readPickle } from './pickle-reader.ts';
import { type FloatTensor, MissingTensorError, type WeightSource } from './weight-source.ts';
import { ZipArchive, ZipFormatError } from './zip-archive.ts';

/** Element types of torch storages this reader widens to float32. */
export type TorchFloatType = 'float32' | 'float16' | 'bfloat16' | 'float64';

// A Map, not an object literal: a storage class named `constructor` or `__proto__` must not find Object's members.
const storageTypes = new Map<string, { type: TorchFloatType; bytes: number }>([
  ['FloatStorage', { type: 'float32', bytes: 4 }],
  ['HalfStorage', { type: 'float16', bytes: 2 }],
  ['BFloat16Storage', { type: 'bfloat16', bytes: 2 }],
  ['DoubleStorage', { type: 'float64', bytes: 8 }],
]);

/** A storage named by a persistent id `('storage', torch.FloatStorage, key, location, numel)`. */
interface StorageRecord {
  storageType: string;
  key: string;
  numel: number;
}

/** Where one tensor's elements live: a storage, an element offset into it, and its size and stride. */
interface TensorRecord {
  archive: ZipArchive;
  prefix: string;
  storage: StorageRecord;
  offset: number;
  size: number[];
  stride: number[];
}

function isStorageRecord(value: unknown): value is StorageRecord {
  return typeof value === 'object' && value !== null && 'storageType' in value && 'key' in value;
}

function toNumbers(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'number')) {
    throw new PickleFormatError(`${what} is not a tuple of integers`);
  }
  return value as number[];
}

/**
 * Reads tensors straight out of a `torch.save` checkpoint (`pytorch_model.bin`, the zip format of torch ≥ 1.6),
 * without Python: the small `data.pkl` pickle is parsed for the state dict's names, shapes and storage offsets, and
 * each tensor's bytes are read from its `data/<key>` member only when asked for. float32, float16, bfloat16 and
 * float64 storages are widened to float32. Sharded checkpoints (`pytorch_model.bin.index.json`) are accepted too.
 */
export class PytorchCheckpointSource implements WeightSource {
  readonly description: string;
  private readonly archives: ZipArchive[] = [];
  private readonly tensors = new Map<string, TensorRecord>();

  /** @param path - a `pytorch_model.bin`, or a `pytorch_model.bin.index.json` naming its shards */
  constructor(readonly path: string) {
    this.description = path;
    try {
      for (const file of PytorchCheckpointSource.shardFiles(path)) this.index(file);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** The checkpoint file(s) of a directory: the sharded index when present, else `pytorch_model.bin`. */
  static pathIn(directory: string): string | undefined {
    for (const name of ['pytorch_model.bin.index.json', 'pytorch_model.bin']) {
      if (existsSync(join(directory, name))) return join(directory, name);
    }
    return undefined;
  }

  private static shardFiles(path: string): string[] {
    if (!path.endsWith('.index.json')) return [path];
    const index = JSON.parse(readFileSync(path, 'utf8')) as { weight_map?: Record<string, string> };
    if (!index.weight_map) throw new ZipFormatError(path, 'no weight_map in the shard index');
    return [...new Set(Object.values(index.weight_map))].map((file) => join(dirname(path), file));
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Every tensor name in the checkpoint(s). */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** The file holding `name`, for error messages. */
  fileOf(name: string): string | undefined {
    return this.tensors.get(name)?.archive.path;
  }

  /** Shape of a tensor without reading its data. */
  dims(name: string): readonly number[] | undefined {
    return this.tensors.get(name)?.size;
  }

  get(name: string): FloatTensor {
    const record = this.tensors.get(name);
    if (!record) {
      const files = this.archives.map((archive) => basename(archive.path));
      const searched = files.length > 1 ? ` (searched ${files.join(', ')})` : '';
      throw new MissingTensorError(name, `${this.description}${searched}`);
    }
    const storageType = storageTypes.get(record.storage.storageType);
    if (storageType === undefined) {
      const supported = [...storageTypes.keys()].join(', ');
      throw new MissingTensorError(
        name,
        record.archive.path,
        `has unsupported storage type ${JSON.stringify(record.storage.storageType)} (supported: ${supported})`,
      );
    }
    const count = record.size.reduce((product, size) => product * size, 1);
    let expectedStride = 1;
    for (let axis = record.size.length - 1; axis >= 0; axis--) {
      if ((record.size[axis] ?? 1) !== 1 && record.stride[axis] !== expectedStride) {
        throw new MissingTensorError(name, record.archive.path, 'is not contiguous (re-save it after .contiguous())');
      }
      expectedStride *= record.size[axis] ?? 1;
    }
    const memberName = `${record.prefix}data/${record.storage.key}`;
    const member = record.archive.entry(memberName);
    if (!member) throw new MissingTensorError(name, record.archive.path, `has no storage member ${memberName}`);
    const bytes = record.archive.read(member, record.offset * storageType.bytes, count * storageType.bytes);
    const data = widen(bytes, storageType.type, count);
    return { dims: record.size, data };
  }

  close(): void {
    for (const archive of this.archives.splice(0)) archive.close();
  }

  private index(file: string): void {
    const archive = new ZipArchive(file);
    this.archives.push(archive);
    const pickleName = archive.names().find((name) => name.endsWith('data.pkl') && name.split('/').length === 2);
    if (!pickleName) {
      throw new ZipFormatError(file, 'no <archive>/data.pkl member: not a torch.save checkpoint');
    }
    const prefix = pickleName.slice(0, -'data.pkl'.length);
    const byteOrder = archive.entry(`${prefix}byteorder`);
    if (byteOrder && new TextDecoder().decode(archive.read(byteOrder)).trim() !== 'little') {
      throw new ZipFormatError(file, 'big-endian checkpoints are not supported');
    }
    const pickleEntry = archive.entry(pickleName);
    if (!pickleEntry) throw new ZipFormatError(file, `cannot read ${pickleName}`);
    const root = readPickle(archive.read(pickleEntry), {
      persistentLoad: (pid) => {
        if (!Array.isArray(pid) || pid[0] !== 'storage')
          throw new PickleFormatError(`unknown persistent id in ${basename(file)}`);
        const [, storageType, key, , numel] = pid as [string, PickleGlobal, string, string, number];
        return { storageType: storageType.name, key: String(key), numel } satisfies StorageRecord;
      },
      call: (callable, args) => {
        if (
          callable.qualifiedName === 'torch._utils._rebuild_tensor_v2' ||
          callable.qualifiedName === 'torch._utils._rebuild_tensor'
        ) {
          const [storage, offset, size, stride] = args;
          if (!isStorageRecord(storage)) throw new PickleFormatError('tensor without a storage');
          return {
            archive,
            prefix,
            storage,
            offset: Number(offset),
            size: toNumbers(size, 'tensor size'),
            stride: toNumbers(stride, 'tensor stride'),
          } satisfies TensorRecord;
        }
        if (callable.qualifiedName === 'torch._utils._rebuild_parameter') return args[0];
        return undefined;
      },
    });
    const stateDict = findStateDict(root);
    if (!stateDict) throw new ZipFormatError(file, 'data.pkl holds no state dict of tensors');
    for (const [name, value] of stateDict) {
      if (typeof name === 'string' && typeof value === 'object' && value !== null && 'storage' in value) {
        this.tensors.set(name, value as TensorRecord);
      }
    }
  }
}

/** The state dict itself, or one nested under `model`/`state_dict`/`module` as LAVIS and trainers save it. */
function findStateDict(root: unknown): Map<unknown, unknown> | undefined {
  if (!(root instanceof Map)) return undefined;
  const holdsTensors = [...root.values()].some(
    (value) => typeof value === 'object' && value !== null && 'storage' in value,
  );
  if (holdsTensors) return root;
  for (const key of ['model', 'state_dict', 'module']) {
    const nested = findStateDict(root.get(key));
    if (nested) return nested;
  }
  return undefined;
}

function widen(bytes: Uint8Array, type: TorchFloatType, count: number): Float32Array {
  switch (type) {
    case 'float32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    case 'float64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, count));
    case 'float16':
      return fromFloat16(new Uint16Array(bytes.buffer, bytes.byteOffset, count));
    case 'bfloat16':
      return fromBfloat16(new Uint16Array(bytes.buffer, bytes.byteOffset, count));
  }
}
