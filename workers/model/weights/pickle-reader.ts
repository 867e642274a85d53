/** A class or function named by a pickle (`GLOBAL module name`), never resolved to code. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The result of calling a global this reader has no meaning for: kept as data so callers can inspect it. */
export class PickleCall {
  state: unknown = undefined;
  constructor(
    readonly callable: PickleGlobal,
    readonly args: readonly unknown[],
  ) {}
}

/** How a caller gives meaning to persistent ids and to calls of known globals (torch's tensor rebuilders). */
export interface PickleHooks {
  persistentLoad(pid: unknown): unknown;
  /** Returns the value of `callable(...args)`, or `undefined` to keep a `PickleCall`. */
  call(callable: PickleGlobal, args: readonly unknown[]): unknown;
}

/** A pickle stream uses an opcode or structure this reader does not handle. */
export class PickleFormatError extends Error {
  override readonly name = 'PickleFormatError';
}

/**
 * A data-only unpickler for the subset `torch.save` emits (protocol 2, plus the protocol 4 opcodes newer Pythons may
 * use). It never executes anything: globals become `PickleGlobal`, calls go through `hooks.call`, dicts become
 * `Map`s and tuples and lists become arrays.
 */
export function readPickle(bytes: Uint8Array, hooks: PickleHooks): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const stack: unknown[] = [];
  const markPositions: number[] = [];
  const memo = new Map<number, unknown>();
  let position = 0;

  const readUint8 = () => {
    if (position >= bytes.length) throw new PickleFormatError('pickle ends before STOP');
    return bytes[position++] ?? 0;
  };
  const take = (length: number) => {
    if (position + length > bytes.length) throw new PickleFormatError('pickle ends inside an argument');
    const slice = bytes.subarray(position, position + length);
    position += length;
    return slice;
  };
  const readLine = () => {
    const end = bytes.indexOf(0x0a, position);
    if (end < 0) throw new PickleFormatError('unterminated text line');
    const text = decoder.decode(bytes.subarray(position, end));
    position = end + 1;
    return text;
  };
  const uint32 = () => {
    const value = view.getUint32(position, true);
    position += 4;
    return value;
  };
  const pop = () => {
    if (stack.length === 0) throw new PickleFormatError('stack underflow');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const start = markPositions.pop();
    if (start === undefined) throw new PickleFormatError('no MARK to pop to');
    return stack.splice(start);
  };
  const top = () => stack[stack.length - 1];
  const setItems = (target: unknown, items: readonly unknown[]) => {
    if (!(target instanceof Map)) throw new PickleFormatError('SETITEM(S) on a non-dict');
    for (let index = 0; index + 1 < items.length; index += 2) target.set(items[index], items[index + 1]);
  };
  const call = (callable: unknown, args: unknown) => {
    if (!(callable instanceof PickleGlobal)) throw new PickleFormatError('REDUCE of a non-global callable');
    const argumentList = Array.isArray(args) ? args : [];
    if (callable.qualifiedName === 'collections.OrderedDict' || callable.qualifiedName === 'builtins.dict') {
      return new Map();
    }
    const result = hooks.call(callable, argumentList);
    return result === undefined ? new PickleCall(callable, argumentList) : result;
  };

  for (;;) {
    const opcode = readUint8();
    switch (opcode) {
      case 0x80: // PROTO
        readUint8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        markPositions.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const second = pop();
        stack.push([pop(), second]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const third = pop();
        const second = pop();
        stack.push([pop(), second, third]);
        break;
      }
      case 0x64: {
        // DICT
        const dict = new Map();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x71: // BINPUT
        memo.set(readUint8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(uint32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = opcode === 0x68 ? readUint8() : uint32();
        if (!memo.has(key)) throw new PickleFormatError(`memo key ${key} not set`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = readLine();
        stack.push(new PickleGlobal(module, readLine()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        stack.push(new PickleGlobal(String(pop()), String(name)));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: torch's state dicts carry `_metadata` here; objects keep their state for inspection.
        const state = pop();
        const target = top();
        if (target instanceof PickleCall) target.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      case 0x4b: // BININT1
        stack.push(readUint8());
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(position, true));
        position += 2;
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(position, true));
        position += 4;
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const length = readUint8();
        const digits = take(length);
        let value = 0n;
        for (let index = length - 1; index >= 0; index--) value = (value << 8n) | BigInt(digits[index] ?? 0);
        if (length > 0 && ((digits[length - 1] ?? 0) & 0x80) !== 0) value -= 1n << BigInt(8 * length);
        stack.push(
          value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value,
        );
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(view.getFloat64(position, false));
        position += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(decoder.decode(take(uint32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decoder.decode(take(readUint8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(decoder.decode(take(Number(view.getBigUint64(position, true)) + 8).subarray(8)));
        break;
      case 0x54: // BINSTRING
        stack.push(decoder.decode(take(uint32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(decoder.decode(take(readUint8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(uint32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(readUint8()).slice());
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const value = pop();
        const list = top();
        if (!Array.isArray(list)) throw new PickleFormatError('APPEND to a non-list');
        list.push(value);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new PickleFormatError('APPENDS to a non-list');
        list.push(...items);
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new PickleFormatError(`unsupported pickle opcode 0x${opcode.toString(16)} at byte ${position - 1}`);
    }
  }
}
