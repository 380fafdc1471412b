// A restricted unpickler for PyTorch state dicts. It interprets the pickle opcodes a
// `torch.save(state_dict)` emits and builds plain data: it never imports or calls anything.
// Only a handful of globals are recognised (OrderedDict, the tensor rebuild functions and
// the storage classes) and each is modelled here, not looked up; any other global — the
// way a malicious pickle reaches os.system or eval — is refused with an error naming it,
// as is any opcode outside the set below.

/** A Python tuple (lists are plain arrays). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict or OrderedDict; keys are strings or integers (all a state dict needs). */
export class PyDict {
  readonly map = new Map<string | number, PyValue>();
}

/** A storage class such as torch.FloatStorage: only usable inside a persistent id. */
export class StorageType {
  constructor(readonly name: string) {}
}

/** One storage of the archive, named by its persistent-id key. */
export interface StorageRef {
  kind: 'storage';
  key: string;
  type: StorageType;
  /** Number of elements the storage holds. */
  numel: number;
}

/** A tensor view into a storage (torch._utils._rebuild_tensor_v2). */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  /** Offset in elements. */
  storageOffset: number;
  shape: number[];
  stride: number[];
}

/** A recognised global that may be called with REDUCE. */
class PyCallable {
  constructor(readonly name: string) {}
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | StorageType | StorageRef | TensorRef | PyCallable;

export class PickleError extends Error {
  override name = 'PickleError';
}

/** Sequential byte input of a pickle (an in-memory buffer or a file read in chunks). */
export interface ByteStream {
  /** Position of the next byte, from the start of the stream. */
  readonly pos: number;
  byte(): number;
  take(n: number): Buffer;
  /** The bytes up to and excluding the next newline (for GLOBAL). */
  line(): string;
}

export class BufferStream implements ByteStream {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  byte(): number {
    if (this.pos >= this.buf.length) throw new PickleError(`pickle ends unexpectedly at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }

  take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new PickleError(`pickle ends unexpectedly at byte ${this.pos} (needs ${n} more)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  line(): string {
    const end = this.buf.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError(`pickle ends unexpectedly at byte ${this.pos} (unterminated line)`);
    const s = this.buf.subarray(this.pos, end).toString('latin1');
    this.pos = end + 1;
    return s;
  }
}

const STORAGE_TYPES = [
  'FloatStorage', 'HalfStorage', 'BFloat16Storage', 'DoubleStorage', 'LongStorage', 'IntStorage',
  'ShortStorage', 'CharStorage', 'ByteStorage', 'BoolStorage',
];
const CALLABLES = ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_parameter'];
export const ALLOWED_GLOBALS = [...CALLABLES, ...STORAGE_TYPES.map((s) => `torch.${s}`)];

function resolveGlobal(module: string, name: string): PyValue {
  const full = `${module}.${name}`;
  if (CALLABLES.includes(full)) return new PyCallable(full);
  if (module === 'torch' && STORAGE_TYPES.includes(name)) return new StorageType(name);
  throw new PickleError(`refusing global ${full}: a state dict of tensors only needs ${ALLOWED_GLOBALS.join(', ')}`);
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

function int(v: PyValue, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new PickleError(`${what} must be an integer, got ${describe(v)}`);
}

function intTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new PickleError(`${what} must be a tuple, got ${describe(v)}`);
  return v.items.map((x, i) => int(x, `${what}[${i}]`));
}

export function describe(v: PyValue | undefined): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyDict) return 'a dict';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof StorageType) return `torch.${v.name}`;
  if (v instanceof PyCallable) return v.name;
  if (typeof v === 'object') return v.kind;
  return `${typeof v} ${String(v)}`;
}

/** Calls one of the recognised globals (REDUCE): only ever builds data. */
function call(fn: PyValue, args: PyValue): PyValue {
  if (!(fn instanceof PyCallable)) throw new PickleError(`REDUCE on ${describe(fn)}: only ${CALLABLES.join(', ')} may be called`);
  if (!(args instanceof PyTuple)) throw new PickleError(`REDUCE arguments of ${fn.name} must be a tuple`);
  const a = args.items;
  switch (fn.name) {
    case 'collections.OrderedDict': {
      const d = new PyDict();
      if (a.length === 0) return d;
      if (a.length === 1 && Array.isArray(a[0])) {
        for (const pair of a[0]) {
          if (!(pair instanceof PyTuple) || pair.items.length !== 2) throw new PickleError('OrderedDict items must be (key, value) pairs');
          setItem(d, pair.items[0]!, pair.items[1]!);
        }
        return d;
      }
      throw new PickleError('OrderedDict called with unsupported arguments');
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      // v2: (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      const min = fn.name.endsWith('_v2') ? 6 : 4;
      if (a.length < min || a.length > 7) throw new PickleError(`${fn.name} called with ${a.length} arguments`);
      const storage = a[0]!;
      if (typeof storage !== 'object' || storage === null || !('kind' in storage) || storage.kind !== 'storage') {
        throw new PickleError(`${fn.name}: first argument must be a storage, got ${describe(storage)}`);
      }
      const shape = intTuple(a[2]!, 'tensor size');
      const stride = intTuple(a[3]!, 'tensor stride');
      if (shape.length !== stride.length) throw new PickleError(`tensor size [${shape}] and stride [${stride}] differ in rank`);
      if (shape.some((d) => d < 0) || stride.some((s) => s < 0)) throw new PickleError(`negative size or stride: [${shape}] / [${stride}]`);
      return { kind: 'tensor', storage, storageOffset: int(a[1]!, 'storage offset'), shape, stride };
    }
    case 'torch._utils._rebuild_parameter': {
      // (data, requires_grad, backward_hooks): an nn.Parameter is just its tensor here
      const t = a[0];
      if (typeof t !== 'object' || t === null || !('kind' in t) || t.kind !== 'tensor') throw new PickleError(`_rebuild_parameter of ${describe(t)}`);
      return t;
    }
  }
  throw new PickleError(`unhandled callable ${fn.name}`);
}

function setItem(d: PyValue, k: PyValue, v: PyValue): void {
  if (!(d instanceof PyDict)) throw new PickleError(`SETITEM on ${describe(d)}`);
  if (typeof k !== 'string' && typeof k !== 'number') throw new PickleError(`dict key of type ${describe(k)} (only str and int keys are supported)`);
  d.map.set(k, v);
}

/**
 * Interprets one pickle from `input` and returns its value. `persistentLoad` turns a
 * persistent id (BINPERSID) into a value; the tensor archives use it for storages.
 */
export function unpickle(input: ByteStream, persistentLoad: (pid: PyValue) => PyValue): PyValue {
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new PickleError(`stack underflow at byte ${input.pos}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PickleError(`stack underflow at byte ${input.pos}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new PickleError(`no MARK on the stack at byte ${input.pos}`);
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const get = (i: number): PyValue => {
    if (!memo.has(i)) throw new PickleError(`memo key ${i} not defined at byte ${input.pos}`);
    return memo.get(i)!;
  };
  for (;;) {
    const at = input.pos;
    const op = input.byte();
    switch (op) {
      case 0x80: // PROTO
        if (input.byte() > 5) throw new PickleError(`unsupported pickle protocol at byte ${at}`);
        break;
      case 0x95: // FRAME: a length hint only
        input.take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack.pop() === undefined) throw new PickleError(`stack underflow at byte ${at}`);
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(input.take(4).readInt32LE(0));
        break;
      case 0x4b: // BININT1
        stack.push(input.byte());
        break;
      case 0x4d: // BININT2
        stack.push(input.take(2).readUInt16LE(0));
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(input.take(input.byte())));
        break;
      case 0x8b: // LONG4
        stack.push(decodeLong(input.take(checkedLen(input.take(4).readInt32LE(0), at))));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(input.take(8).readDoubleBE(0));
        break;
      case 0x58: // BINUNICODE
        stack.push(input.take(checkedLen(input.take(4).readUInt32LE(0), at)).toString('utf8'));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(input.take(input.byte()).toString('utf8'));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(input.take(checkedLen(Number(input.take(8).readBigUInt64LE(0)), at)).toString('utf8'));
        break;
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(input.take(checkedLen(input.take(4).readInt32LE(0), at)).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(input.take(input.byte()).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Uint8Array.from(input.take(checkedLen(input.take(4).readUInt32LE(0), at))));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Uint8Array.from(input.take(input.byte())));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw new PickleError(`APPEND to ${describe(list)} at byte ${at}`);
        list.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new PickleError(`APPENDS to ${describe(list)} at byte ${at}`);
        list.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: { // DICT
        const items = popMark();
        const d = new PyDict();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) throw new PickleError(`SETITEMS with an odd number of items at byte ${at}`);
        const d = top();
        for (let i = 0; i < items.length; i += 2) setItem(d, items[i]!, items[i + 1]!);
        break;
      }
      case 0x71: // BINPUT
        memo.set(input.byte(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(input.take(4).readUInt32LE(0), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        stack.push(get(input.byte()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(get(input.take(4).readUInt32LE(0)));
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = input.line();
        stack.push(resolveGlobal(module, input.line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError(`STACK_GLOBAL with non-string names at byte ${at}`);
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: { // BUILD: only the attribute dict of an OrderedDict (state_dict()._metadata)
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict) || !(state === null || state instanceof PyDict)) {
          throw new PickleError(`BUILD on ${describe(target)} with ${describe(state)} at byte ${at}: not part of a state dict`);
        }
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      default:
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (${JSON.stringify(String.fromCharCode(op))}) at byte ${at}`);
    }
  }
}

function checkedLen(n: number, at: number): number {
  if (n < 0 || n > 1 << 30) throw new PickleError(`implausible length ${n} at byte ${at}`);
  return n;
}

/** Little-endian two's complement integer; a JS number when it is exact. */
function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
