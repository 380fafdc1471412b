// PyTorch `.bin` checkpoints (torch.save of a state dict), read safely: the pickle goes
// through our restricted unpickler (pickle.ts), which builds only tensor descriptions and
// refuses any other global, so loading never executes code. Tensor data is read one tensor
// at a time by offset, never the whole file.
//
// Two containers exist:
//  - zip (torch >= 1.6): `<prefix>/data.pkl` and one stored entry `<prefix>/data/<key>` per
//    storage; persistent ids are ('storage', type, key, location, numel).
//  - legacy (torch < 1.6): pickles of the magic number, protocol, system info, the object and
//    the sorted storage keys, then each storage as int64 numel + raw bytes; persistent ids are
//    ('storage', type, key, location, numel, view_metadata).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { bytesToFloat32, FILE_DTYPE_SIZE, type FileDtype } from './dtypes.js';
import { BufferStream, type ByteStream, PickleError, PyDict, PyTuple, type PyValue, type StorageRef, StorageType, type TensorRef, describe, unpickle } from './pickle.js';
import type { TensorFile, TensorInfo } from './tensor_file.js';
import { readExact, readZipDirectory, ZipError } from './zip.js';

export class TorchBinError extends Error {
  override name = 'TorchBinError';
}

const STORAGE_DTYPES: Record<string, FileDtype | undefined> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64',
  IntStorage: 'I32', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

export interface BinTensorInfo extends TensorInfo {
  storageKey: string;
  /** In elements. */
  storageOffset: number;
  stride: number[];
}

interface StorageLoc {
  dtype: FileDtype;
  numel: number;
  /** Absolute byte offset of element 0 in the file. */
  offset: number;
}

/** Reads a pickle straight from the file in 1 MiB chunks (the legacy format has no index). */
class FdStream implements ByteStream {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos: number;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    start: number,
  ) {
    this.pos = start;
  }

  private ensure(n: number): void {
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    if (this.pos + n > this.size) throw new PickleError(`pickle ends unexpectedly at byte ${this.pos} of ${this.size} (truncated file?)`);
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) done += readSync(this.fd, this.buf, done, len - done, this.pos + done);
    this.bufStart = this.pos;
  }

  byte(): number {
    this.ensure(1);
    return this.buf[this.pos++ - this.bufStart]!;
  }

  take(n: number): Buffer {
    this.ensure(n);
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  line(): string {
    let s = '';
    for (let c = this.byte(); c !== 0x0a; c = this.byte()) s += String.fromCharCode(c);
    return s;
  }
}

function isTensor(v: PyValue | undefined): v is TensorRef {
  return typeof v === 'object' && v !== null && 'kind' in v && v.kind === 'tensor';
}

export class TorchBinReader implements TensorFile {
  readonly tensors = new Map<string, BinTensorInfo>();
  private readonly storages = new Map<string, StorageLoc>();
  private readonly fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const size = fstatSync(this.fd).size;
      if (size < 4) this.fail(`file is ${size} bytes`);
      const magic = readExact(this.fd, path, 4, 0);
      if (magic.readUInt32LE(0) === 0x04034b50) this.openZip();
      else if (magic[0] === 0x80) this.openLegacy(size);
      else this.fail('neither a zip archive nor a legacy pickle (tar-format archives from torch < 0.4 are not supported)');
    } catch (err) {
      closeSync(this.fd);
      if (err instanceof TorchBinError) throw err;
      if (err instanceof ZipError) throw new TorchBinError(err.message);
      if (err instanceof PickleError) throw new TorchBinError(`${path}: ${err.message}`);
      throw err;
    }
  }

  private fail(why: string): never {
    throw new TorchBinError(`${this.path}: cannot read PyTorch checkpoint: ${why}`);
  }

  /** Collects storages by key from persistent ids, checking each key keeps one type and size. */
  private storageLoader(legacy: boolean): { refs: Map<string, StorageRef>; load: (pid: PyValue) => PyValue } {
    const refs = new Map<string, StorageRef>();
    const load = (pid: PyValue): PyValue => {
      const items = pid instanceof PyTuple ? pid.items : [];
      const [tag, type, key, , numel, viewMeta] = items;
      if (items.length !== (legacy ? 6 : 5) || tag !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string' || typeof numel !== 'number') {
        this.fail(`unexpected persistent id (${items.map((v) => describe(v)).join(', ')})`);
      }
      if (legacy && viewMeta !== null) this.fail(`storage ${key} is a storage view (legacy view_metadata), which is not supported`);
      const prev = refs.get(key);
      if (prev) {
        if (prev.type.name !== type.name || prev.numel !== numel) this.fail(`storage ${key} is referenced as both ${prev.type.name}[${prev.numel}] and ${type.name}[${numel}]`);
        return prev;
      }
      const ref: StorageRef = { kind: 'storage', key, type, numel };
      refs.set(key, ref);
      return ref;
    };
    return { refs, load };
  }

  private openZip(): void {
    const entries = readZipDirectory(this.fd, this.path);
    const pkls = [...entries.keys()].filter((n) => n === 'data.pkl' || (n.endsWith('/data.pkl') && n.indexOf('/') === n.length - 9));
    if (pkls.length !== 1) this.fail(`expected one <archive>/data.pkl entry, found ${pkls.length}`);
    const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
    const byteorder = entries.get(prefix + 'byteorder');
    if (byteorder) {
      const order = readExact(this.fd, this.path, byteorder.size, byteorder.dataOffset).toString('latin1');
      if (order !== 'little') this.fail(`byteorder is "${order}"; only little-endian archives are supported`);
    }
    const pkl = entries.get(pkls[0]!)!;
    if (pkl.method !== 0) this.fail(`${pkl.name} is compressed (method ${pkl.method}); torch.save writes stored entries`);
    const { refs, load } = this.storageLoader(false);
    const root = unpickle(new BufferStream(readExact(this.fd, this.path, pkl.size, pkl.dataOffset)), load);
    for (const ref of refs.values()) {
      const dtype = this.storageDtype(ref);
      const entry = entries.get(`${prefix}data/${ref.key}`);
      if (!entry) this.fail(`storage ${ref.key} has no entry ${prefix}data/${ref.key}`);
      if (entry.method !== 0) this.fail(`${entry.name} is compressed (method ${entry.method})`);
      const need = ref.numel * FILE_DTYPE_SIZE[dtype];
      if (entry.size < need) this.fail(`${entry.name} holds ${entry.size} bytes, but storage ${ref.key} needs ${need} (${ref.numel} x ${ref.type.name})`);
      this.storages.set(ref.key, { dtype, numel: ref.numel, offset: entry.dataOffset });
    }
    this.collect(root);
  }

  private openLegacy(size: number): void {
    const input = new FdStream(this.fd, size, 0);
    const none = (): PyValue => this.fail('unexpected persistent id in a header pickle');
    const magic = unpickle(input, none);
    if (magic !== LEGACY_MAGIC) this.fail('not a PyTorch file (bad magic number)');
    const protocol = unpickle(input, none);
    if (protocol !== LEGACY_PROTOCOL) this.fail(`unsupported legacy protocol version ${String(protocol)}`);
    const sysInfo = unpickle(input, none);
    if (sysInfo instanceof PyDict && sysInfo.map.get('little_endian') === false) this.fail('big-endian archives are not supported');
    const { refs, load } = this.storageLoader(true);
    const root = unpickle(input, load);
    const keys = unpickle(input, none);
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) this.fail('storage key list is not a list of strings');
    let offset = input.pos;
    for (const key of keys as string[]) {
      const ref = refs.get(key);
      if (!ref) this.fail(`storage ${key} is listed but never used`);
      const dtype = this.storageDtype(ref);
      if (offset + 8 > size) this.fail(`storage ${key} starts past the end of the file (${size} bytes; truncated?)`);
      const numel = Number(readExact(this.fd, this.path, 8, offset).readBigInt64LE(0));
      if (numel !== ref.numel) this.fail(`storage ${key} holds ${numel} elements, its tensors say ${ref.numel}`);
      const end = offset + 8 + numel * FILE_DTYPE_SIZE[dtype];
      if (end > size) this.fail(`storage ${key} (${numel} x ${ref.type.name}) runs past the end of the file (${size} bytes; truncated?)`);
      this.storages.set(key, { dtype, numel, offset: offset + 8 });
      offset = end;
    }
    for (const key of refs.keys()) if (!this.storages.has(key)) this.fail(`storage ${key} is used but not stored`);
    this.collect(root);
  }

  private storageDtype(ref: StorageRef): FileDtype {
    const dtype = STORAGE_DTYPES[ref.type.name];
    if (!dtype) this.fail(`storage ${ref.key} has unsupported type torch.${ref.type.name}`);
    return dtype;
  }

  /** The top-level object must be a dict of tensors: a state dict. */
  private collect(root: PyValue): void {
    if (!(root instanceof PyDict)) this.fail(`the top-level object is ${describe(root)}, not a state dict`);
    for (const [key, value] of root.map) {
      if (typeof key !== 'string') this.fail(`state dict key ${key} is not a string`);
      if (!isTensor(value)) this.fail(`state dict entry ${key} is ${describe(value)}, not a tensor`);
      const st = this.storages.get(value.storage.key)!;
      // the highest element the view touches must lie inside its storage
      const numel = value.shape.reduce((a, d) => a * d, 1);
      const last = numel === 0 ? value.storageOffset - 1 : value.shape.reduce((a, d, i) => a + (d - 1) * value.stride[i]!, value.storageOffset);
      if (value.storageOffset < 0 || last >= st.numel) {
        this.fail(`tensor ${key} (offset ${value.storageOffset}, size [${value.shape}], stride [${value.stride}]) reaches past its storage ${value.storage.key} of ${st.numel} elements`);
      }
      // a view with more elements than its storage repeats elements (stride 0 from expand, or
      // overlapping strides): never a parameter, and a way to make one small file decode huge
      if (numel > st.numel) this.fail(`tensor ${key} (size [${value.shape}], stride [${value.stride}]) has more elements than its storage ${value.storage.key} (${st.numel}): expanded or overlapping views are not supported`);
      this.tensors.set(key, { name: key, dtype: st.dtype, shape: value.shape, storageKey: value.storage.key, storageOffset: value.storageOffset, stride: value.stride });
    }
  }

  info(name: string): BinTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new TorchBinError(`${this.path}: no tensor named ${name}`);
    return t;
  }

  /** Row-major bytes of the tensor; strided views are gathered from their storage span. */
  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    const st = this.storages.get(t.storageKey)!;
    const es = FILE_DTYPE_SIZE[t.dtype];
    const numel = t.shape.reduce((a, d) => a * d, 1);
    if (numel === 0) return new Uint8Array(0);
    const base = st.offset + t.storageOffset * es;
    if (isContiguous(t.shape, t.stride)) return readExact(this.fd, this.path, numel * es, base);
    const spanElems = t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i]!, 0) + 1;
    const span = readExact(this.fd, this.path, spanElems * es, base);
    const out = new Uint8Array(numel * es);
    const idx = new Array<number>(t.shape.length).fill(0);
    let src = 0;
    for (let i = 0; i < numel; i++) {
      out.set(span.subarray(src * es, (src + 1) * es), i * es);
      // odometer over the shape, last dimension fastest
      for (let d = t.shape.length - 1; d >= 0; d--) {
        idx[d]!++;
        src += t.stride[d]!;
        if (idx[d]! < t.shape[d]!) break;
        src -= idx[d]! * t.stride[d]!;
        idx[d] = 0;
      }
    }
    return out;
  }

  readFloat32(name: string): Float32Array {
    return bytesToFloat32(this.readBytes(name), this.info(name).dtype);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Row-major strides (dimensions of size 1 may carry any stride). */
function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}
