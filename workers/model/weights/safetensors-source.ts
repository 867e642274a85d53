import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fromBfloat16, fromFloat16 } from '../quantize/float16.ts';
import { type FloatTensor, MissingTensorError, type WeightSource } from './weight-source.ts';

/** A checkpoint directory holds no safetensors weights, or a safetensors file is malformed. */
export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** One entry of a safetensors header. */
interface TensorEntry {
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

const bytesPerElement: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** One `.safetensors` file: its header is parsed on open, tensors are read on demand. */
class SafetensorsFile {
  private readonly fd: number;
  readonly entries = new Map<string, TensorEntry>();

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const prefix = Buffer.alloc(8);
      if (readSync(this.fd, prefix, 0, 8, 0) !== 8) throw new CheckpointFormatError(path, 'too short for a header');
      const headerLength = Number(prefix.readBigUInt64LE(0));
      if (headerLength > 100_000_000)
        throw new CheckpointFormatError(path, `implausible header length ${headerLength}`);
      const header = Buffer.alloc(headerLength);
      if (readSync(this.fd, header, 0, headerLength, 8) !== headerLength) {
        throw new CheckpointFormatError(path, 'header is truncated');
      }
      let json: Record<string, { dtype?: string; shape?: number[]; data_offsets?: [number, number] }>;
      try {
        json = JSON.parse(header.toString('utf8'));
      } catch (error) {
        throw new CheckpointFormatError(path, `header is not JSON: ${(error as Error).message}`);
      }
      const dataStart = 8 + headerLength;
      for (const [name, entry] of Object.entries(json)) {
        if (name === '__metadata__') continue;
        if (!entry.dtype || !entry.shape || !entry.data_offsets) {
          throw new CheckpointFormatError(path, `header entry ${name} lacks dtype, shape or data_offsets`);
        }
        const [begin, end] = entry.data_offsets;
        this.entries.set(name, {
          dtype: entry.dtype,
          shape: entry.shape,
          begin: dataStart + begin,
          end: dataStart + end,
        });
      }
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
  }

  /** Reads one tensor's bytes (in chunks: one `readSync` call is limited to 2 GiB) and widens them to float32. */
  read(name: string, entry: TensorEntry): FloatTensor {
    const width = bytesPerElement[entry.dtype];
    if (width === undefined) {
      throw new MissingTensorError(name, this.path, `has dtype ${entry.dtype}; only F32, F16 and BF16 are supported`);
    }
    const elements = entry.shape.reduce((product, size) => product * size, 1);
    const length = entry.end - entry.begin;
    if (length !== elements * width) {
      throw new CheckpointFormatError(
        this.path,
        `tensor ${name}: ${length} bytes for ${elements} ${entry.dtype} values`,
      );
    }
    // A fresh buffer is aligned, so typed-array views over it need no copy.
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const count = readSync(this.fd, bytes, done, Math.min(length - done, 1 << 30), entry.begin + done);
      if (count === 0) throw new CheckpointFormatError(this.path, `tensor ${name} is truncated`);
      done += count;
    }
    const data =
      entry.dtype === 'F32'
        ? new Float32Array(bytes.buffer)
        : entry.dtype === 'F16'
          ? fromFloat16(new Uint16Array(bytes.buffer))
          : fromBfloat16(new Uint16Array(bytes.buffer));
    return { dims: entry.shape, data };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Name prefixes under which a wrapped LLaMA's tensors may be stored (BLIP-2 keeps it under `language_model.`). */
const namePrefixes = ['', 'language_model.'] as const;

/**
 * Weights of a Hugging Face checkpoint in safetensors: `model.safetensors`, a sharded set listed by
 * `model.safetensors.index.json`, or any `*.safetensors` files in the directory. F32, F16 and BF16 tensors are
 * widened to float32; each tensor is read on its own with positioned reads, never a whole file.
 */
export class SafetensorsWeightSource implements WeightSource {
  readonly description: string;
  private readonly files = new Map<string, SafetensorsFile>();
  /** Tensor name → file name, from the index or from the headers. */
  private readonly locations = new Map<string, string>();

  constructor(readonly directory: string) {
    this.description = directory;
    const indexPath = join(directory, 'model.safetensors.index.json');
    let fileNames: string[];
    if (existsSync(indexPath)) {
      let index: { weight_map?: Record<string, string> };
      try {
        index = JSON.parse(readFileSync(indexPath, 'utf8'));
      } catch (error) {
        throw new CheckpointFormatError(indexPath, `invalid JSON: ${(error as Error).message}`);
      }
      if (!index.weight_map) throw new CheckpointFormatError(indexPath, 'has no weight_map');
      for (const [name, file] of Object.entries(index.weight_map)) this.locations.set(name, file);
      fileNames = [...new Set(this.locations.values())];
    } else {
      const listing = readdirSync(directory);
      fileNames = listing.filter((file) => file.endsWith('.safetensors')).sort();
      if (fileNames.length === 0) {
        throw new CheckpointFormatError(
          directory,
          'no model.safetensors, model.safetensors.index.json or *.safetensors file',
        );
      }
    }
    for (const fileName of fileNames) {
      const path = join(directory, fileName);
      if (!existsSync(path)) throw new CheckpointFormatError(path, 'listed in the index but missing');
      const file = new SafetensorsFile(path);
      this.files.set(fileName, file);
      for (const name of file.entries.keys()) if (!this.locations.has(name)) this.locations.set(name, fileName);
    }
  }

  private locate(name: string): { storedName: string; fileName: string } | undefined {
    for (const prefix of namePrefixes) {
      const fileName = this.locations.get(prefix + name);
      if (fileName !== undefined) return { storedName: prefix + name, fileName };
    }
    return undefined;
  }

  /** The file holding `name`, for error messages. */
  fileOf(name: string): string | undefined {
    const location = this.locate(name);
    return location && join(this.directory, location.fileName);
  }

  has(name: string): boolean {
    return this.locate(name) !== undefined;
  }

  /** Shape of a tensor from the header, without reading its data. */
  dims(name: string): readonly number[] | undefined {
    const location = this.locate(name);
    return location && this.files.get(location.fileName)?.entries.get(location.storedName)?.shape;
  }

  get(name: string): FloatTensor {
    const location = this.locate(name);
    if (!location) {
      throw new MissingTensorError(name, `${this.directory} (searched ${[...this.files.keys()].join(', ')})`);
    }
    const file = this.files.get(location.fileName)!;
    const entry = file.entries.get(location.storedName);
    if (!entry) throw new MissingTensorError(name, `${file.path} (listed there by the index)`);
    return file.read(location.storedName, entry);
  }

  close(): void {
    for (const file of this.files.values()) file.close();
    this.files.clear();
  }
}
