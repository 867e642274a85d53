import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** One stored (uncompressed) member of a zip archive. */
export interface ZipEntry {
  name: string;
  /** Absolute file offset of the member's first data byte. */
  dataOffset: number;
  size: number;
}

/** A zip file is malformed or uses a feature this reader does not handle; the message names the file. */
export class ZipFormatError extends Error {
  override readonly name = 'ZipFormatError';
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

const endOfCentralDirectorySignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EndSignature = 0x06064b50;
const centralHeaderSignature = 0x02014b50;
const localHeaderSignature = 0x04034b50;
const zip64ExtraId = 0x0001;
const saturated32 = 0xffffffff;

/**
 * Random access to the members of an uncompressed zip archive (what `torch.save` writes), ZIP64 included. Only the
 * central directory is read up front; member bytes are read on demand at their offsets, so multi-gigabyte
 * checkpoints never sit in memory.
 */
export class ZipArchive {
  private readonly fd: number;
  private readonly entries = new Map<string, ZipEntry>();

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.readCentralDirectory();
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
  }

  /** Member names in directory order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** Reads `length` bytes of a member starting `start` bytes into it. */
  read(entry: ZipEntry, start = 0, length = entry.size - start): Uint8Array {
    if (start < 0 || start + length > entry.size) {
      throw new ZipFormatError(
        this.path,
        `read of ${length} bytes at ${start} is outside ${entry.name} (${entry.size} bytes)`,
      );
    }
    return this.readAt(entry.dataOffset + start, length);
  }

  close(): void {
    closeSync(this.fd);
  }

  private readAt(position: number, length: number): Uint8Array {
    const buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const count = readSync(this.fd, buffer, done, Math.min(length - done, 1 << 30), position + done);
      if (count === 0) throw new ZipFormatError(this.path, `unexpected end of file at ${position + done}`);
      done += count;
    }
    return buffer;
  }

  private readCentralDirectory(): void {
    const fileSize = fstatSync(this.fd).size;
    const tailLength = Math.min(fileSize, 22 + 0xffff + 20);
    const tailStart = fileSize - tailLength;
    const tail = Buffer.from(this.readAt(tailStart, tailLength));
    let endPosition = -1;
    for (let index = tail.length - 22; index >= 0; index--) {
      if (tail.readUInt32LE(index) === endOfCentralDirectorySignature) {
        endPosition = index;
        break;
      }
    }
    if (endPosition < 0) {
      const head = Buffer.from(this.readAt(0, Math.min(fileSize, 2)));
      const legacy =
        head[0] === 0x80 ? ' (it looks like the legacy pre-1.6 torch.save format: re-save it with torch ≥ 1.6)' : '';
      throw new ZipFormatError(this.path, `not a zip archive: no end-of-central-directory record${legacy}`);
    }
    let entryCount = tail.readUInt16LE(endPosition + 10);
    let directorySize = tail.readUInt32LE(endPosition + 12);
    let directoryOffset = tail.readUInt32LE(endPosition + 16);
    const locatorPosition = endPosition - 20;
    if (locatorPosition >= 0 && tail.readUInt32LE(locatorPosition) === zip64LocatorSignature) {
      const recordOffset = Number(tail.readBigUInt64LE(locatorPosition + 8));
      const record = Buffer.from(this.readAt(recordOffset, 56));
      if (record.readUInt32LE(0) !== zip64EndSignature) {
        throw new ZipFormatError(this.path, 'ZIP64 locator points at no ZIP64 end-of-central-directory record');
      }
      entryCount = Number(record.readBigUInt64LE(32));
      directorySize = Number(record.readBigUInt64LE(40));
      directoryOffset = Number(record.readBigUInt64LE(48));
    }
    const directory = Buffer.from(this.readAt(directoryOffset, directorySize));
    let position = 0;
    for (let index = 0; index < entryCount; index++) {
      if (directory.readUInt32LE(position) !== centralHeaderSignature) {
        throw new ZipFormatError(this.path, `bad central directory header #${index}`);
      }
      const method = directory.readUInt16LE(position + 10);
      let compressedSize = directory.readUInt32LE(position + 20);
      let size = directory.readUInt32LE(position + 24);
      const nameLength = directory.readUInt16LE(position + 28);
      const extraLength = directory.readUInt16LE(position + 30);
      const commentLength = directory.readUInt16LE(position + 32);
      let localOffset = directory.readUInt32LE(position + 42);
      const name = directory.toString('utf8', position + 46, position + 46 + nameLength);
      let extra = position + 46 + nameLength;
      const extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = directory.readUInt16LE(extra);
        const length = directory.readUInt16LE(extra + 2);
        if (id === zip64ExtraId) {
          // ZIP64 fields appear only for the 32-bit fields that are saturated, in this order.
          let field = extra + 4;
          if (size === saturated32) {
            size = Number(directory.readBigUInt64LE(field));
            field += 8;
          }
          if (compressedSize === saturated32) {
            compressedSize = Number(directory.readBigUInt64LE(field));
            field += 8;
          }
          if (localOffset === saturated32) localOffset = Number(directory.readBigUInt64LE(field));
        }
        extra += 4 + length;
      }
      if (method !== 0 || compressedSize !== size) {
        throw new ZipFormatError(
          this.path,
          `${name} is compressed (method ${method}); only stored members are supported`,
        );
      }
      const local = Buffer.from(this.readAt(localOffset, 30));
      if (local.readUInt32LE(0) !== localHeaderSignature) {
        throw new ZipFormatError(this.path, `bad local header for ${name}`);
      }
      const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      this.entries.set(name, { name, dataOffset, size });
      position = extraEnd + commentLength;
    }
  }
}
