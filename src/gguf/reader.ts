// Checks a GGUF file before a runtime maps it: llama.cpp trusts the header's counts, lengths
// and offsets, so a truncated or corrupt file can crash it instead of failing. This walks the
// header with every length bounds-checked and checks that each tensor's data lies inside the
// file; it returns the metadata's scalar values (arrays are skipped).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { alignUp, GGML_BLOCK, GGUF_ALIGNMENT, GGUF_MAGIC, type GgmlType, ValueType } from './format.js';

export class GgufError extends Error {
  override name = 'GgufError';
}

const SCALAR_SIZE: Partial<Record<ValueType, number>> = {
  [ValueType.U8]: 1, [ValueType.I8]: 1, [ValueType.BOOL]: 1, [ValueType.U16]: 2, [ValueType.I16]: 2,
  [ValueType.U32]: 4, [ValueType.I32]: 4, [ValueType.F32]: 4, [ValueType.U64]: 8, [ValueType.I64]: 8, [ValueType.F64]: 8,
};

/** Reads the file front to back through a small window (the header may be many MB: the vocabulary). */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly path: string,
  ) {}

  private need(n: number, what: string): void {
    if (this.pos + n > this.size) throw new GgufError(`${this.path}: truncated GGUF (${what} at byte ${this.pos} runs past the end of the ${this.size}-byte file)`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
    this.buf = Buffer.alloc(len);
    readSync(this.fd, this.buf, 0, len, this.pos);
    this.bufStart = this.pos;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }

  u32(what: string): number {
    return this.bytes(4, what).readUInt32LE(0);
  }

  u64(what: string): number {
    const v = this.bytes(8, what).readBigUInt64LE(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${this.path}: corrupt GGUF (${what} is ${v} at byte ${this.pos - 8})`);
    return Number(v);
  }

  str(what: string): string {
    const n = this.u64(`${what} length`);
    if (n > this.size) throw new GgufError(`${this.path}: corrupt GGUF (${what} claims ${n} bytes at byte ${this.pos - 8})`);
    return this.bytes(n, what).toString('utf8');
  }
}

export interface GgufInfo {
  version: number;
  metadata: Map<string, string | number | boolean>;
  tensors: number;
}

function readValue(c: Cursor, type: number, key: string, path: string): string | number | boolean | undefined {
  if (type === ValueType.STRING) return c.str(`value of ${key}`);
  if (type === ValueType.ARRAY) {
    const itemType = c.u32(`item type of ${key}`);
    const n = c.u64(`length of ${key}`);
    if (n > c.size) throw new GgufError(`${path}: corrupt GGUF (array ${key} claims ${n} items)`);
    if (itemType === ValueType.STRING) for (let i = 0; i < n; i++) c.str(`item ${i} of ${key}`);
    else {
      const size = SCALAR_SIZE[itemType as ValueType];
      if (size === undefined) throw new GgufError(`${path}: corrupt GGUF (array ${key} has item type ${itemType})`);
      c.bytes(size * n, `items of ${key}`);
    }
    return undefined;
  }
  const size = SCALAR_SIZE[type as ValueType];
  if (size === undefined) throw new GgufError(`${path}: corrupt GGUF (metadata ${key} has value type ${type})`);
  const b = c.bytes(size, `value of ${key}`);
  switch (type as ValueType) {
    case ValueType.BOOL:
      return b[0] !== 0;
    case ValueType.U32:
      return b.readUInt32LE(0);
    case ValueType.I32:
      return b.readInt32LE(0);
    case ValueType.F32:
      return b.readFloatLE(0);
    case ValueType.U64:
      return Number(b.readBigUInt64LE(0));
    default:
      return undefined;
  }
}

export function checkGguf(path: string): GgufInfo {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new GgufError(`${path}: cannot open: ${(err as Error).message}`);
  }
  try {
    const c = new Cursor(fd, fstatSync(fd).size, path);
    if (c.size < 24 || c.u32('magic') !== GGUF_MAGIC) throw new GgufError(`${path}: not a GGUF file (no "GGUF" magic)`);
    const version = c.u32('version');
    if (version < 2 || version > 3) throw new GgufError(`${path}: unsupported GGUF version ${version}`);
    const nTensors = c.u64('tensor count');
    const nKv = c.u64('metadata count');
    if (nTensors > c.size || nKv > c.size) throw new GgufError(`${path}: corrupt GGUF header (counts ${nTensors} tensors, ${nKv} keys)`);
    const metadata = new Map<string, string | number | boolean>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str(`metadata key ${i}`);
      const v = readValue(c, c.u32(`type of ${key}`), key, path);
      if (v !== undefined) metadata.set(key, v);
    }
    const alignment = Number(metadata.get('general.alignment') ?? GGUF_ALIGNMENT);
    let dataEnd = 0;
    let last = '';
    for (let i = 0; i < nTensors; i++) {
      const name = c.str(`tensor ${i} name`);
      const nDims = c.u32(`dims of ${name}`);
      if (nDims < 1 || nDims > 4) throw new GgufError(`${path}: corrupt GGUF (tensor ${name} has ${nDims} dimensions)`);
      let n = 1;
      for (let d = 0; d < nDims; d++) n *= c.u64(`dim ${d} of ${name}`);
      const type = c.u32(`type of ${name}`);
      const offset = c.u64(`offset of ${name}`);
      const block = GGML_BLOCK[type as GgmlType];
      // types this exporter does not write are still checked for placement, not for size
      const bytes = block ? (n / block.values) * block.bytes : 0;
      if (offset + bytes > dataEnd) {
        dataEnd = offset + bytes;
        last = name;
      }
    }
    const dataStart = alignUp(c.pos, alignment);
    if (dataStart + dataEnd > c.size) {
      throw new GgufError(`${path}: truncated GGUF (tensor ${last} ends at byte ${dataStart + dataEnd}, the file has ${c.size})`);
    }
    return { version, metadata, tensors: nTensors };
  } finally {
    closeSync(fd);
  }
}
