// Streams a GGUF v3 file: the header (metadata and every tensor's name, shape, type and
// offset) is known up front from the shapes, so it is written first and the tensors follow
// one at a time, each at a 32-byte aligned offset. Everything goes to a temporary sibling
// file, fsynced, then renamed onto the output: a crash leaves the old file or none (and Ctrl-C
// no temporary: checkpoint/interrupt.ts).
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { registerTemporary, releaseTemporary } from '../checkpoint/interrupt.js';
import { cannotWriteOutput, temporaryBeside } from '../checkpoint/temporaries.js';
import { alignUp, GGUF_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, ggmlBytes, type GgmlType, type MetaValue, ValueType } from './format.js';

export interface GgufTensorSpec {
  name: string;
  /** ggml order: ne[0] is the contiguous (row) dimension, i.e. the reverse of PyTorch's shape. */
  dims: number[];
  type: GgmlType;
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeValue(sink: ByteSink, key: string, v: MetaValue): void {
  sink.u32(v.type);
  switch (v.type) {
    case ValueType.U8:
      sink.push(Buffer.from([v.value]));
      return;
    case ValueType.U32:
      sink.u32(v.value);
      return;
    case ValueType.I32:
      sink.i32(v.value);
      return;
    case ValueType.U64:
      sink.u64(v.value);
      return;
    case ValueType.F32:
      sink.f32(v.value);
      return;
    case ValueType.BOOL:
      sink.push(Buffer.from([v.value ? 1 : 0]));
      return;
    case ValueType.STRING:
      sink.str(v.value);
      return;
    case ValueType.ARRAY:
      sink.u32(v.itemType);
      sink.u64(v.value.length);
      if (v.itemType === ValueType.STRING) for (const s of v.value as string[]) sink.str(s);
      else {
        const arr = v.value as ArrayLike<number>;
        const b = Buffer.alloc(4 * arr.length);
        for (let i = 0; i < arr.length; i++) {
          if (v.itemType === ValueType.F32) b.writeFloatLE(arr[i]!, 4 * i);
          else b.writeInt32LE(arr[i]!, 4 * i);
        }
        sink.push(b);
      }
      return;
    default:
      throw new Error(`GGUF metadata ${key}: unsupported value type`);
  }
}

export class GgufStreamWriter {
  readonly outPath: string;
  private readonly tmpPath: string;
  private fd: number;
  private readonly tensors: Array<GgufTensorSpec & { offset: number; bytes: number }> = [];
  private next = 0;
  private pos = 0;
  /** Bytes written so far (header and tensor data). */
  get bytesWritten(): number {
    return this.pos;
  }

  constructor(outPath: string, metadata: Array<[string, MetaValue]>, tensors: GgufTensorSpec[], private readonly overwrite = false) {
    this.outPath = resolve(outPath);
    if (existsSync(this.outPath) && !overwrite) throw new Error(`${outPath}: output file already exists (pass --overwrite to replace it)`);
    const sink = new ByteSink();
    sink.u32(GGUF_MAGIC);
    sink.u32(GGUF_VERSION);
    sink.u64(tensors.length);
    sink.u64(metadata.length);
    for (const [key, value] of metadata) {
      sink.str(key);
      writeValue(sink, key, value);
    }
    let offset = 0;
    for (const t of tensors) {
      const n = t.dims.reduce((a, d) => a * d, 1);
      const bytes = ggmlBytes(t.type, n);
      this.tensors.push({ ...t, offset, bytes });
      sink.str(t.name);
      sink.u32(t.dims.length);
      for (const d of t.dims) sink.u64(d);
      sink.u32(t.type);
      sink.u64(offset);
      offset = alignUp(offset + bytes);
    }
    const header = sink.bytes();
    // host and pid: sweeps remove only temporaries of this host's dead processes (temporaries.ts)
    this.tmpPath = temporaryBeside(this.outPath);
    try {
      this.fd = openSync(this.tmpPath, 'w');
    } catch (err) {
      throw new Error(cannotWriteOutput(this.outPath, '.gguf file', err));
    }
    registerTemporary(this.tmpPath);
    try {
      this.put(header);
      this.pad();
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  private put(b: Uint8Array): void {
    let done = 0;
    while (done < b.length) done += writeSync(this.fd, b, done, b.length - done, this.pos + done);
    this.pos += b.length;
  }

  private pad(): void {
    const n = alignUp(this.pos, GGUF_ALIGNMENT) - this.pos;
    if (n > 0) this.put(new Uint8Array(n));
  }

  /** Name of the tensor `write` expects next, or null when all are written. */
  get nextName(): string | null {
    return this.tensors[this.next]?.name ?? null;
  }

  write(name: string, bytes: Uint8Array): void {
    const t = this.tensors[this.next];
    if (!t || t.name !== name) throw new Error(`GGUF ${this.outPath}: expected tensor ${this.nextName ?? '(none: all written)'} next, got ${name}`);
    if (bytes.length !== t.bytes) throw new Error(`GGUF ${this.outPath}: tensor ${name} has ${bytes.length} bytes, expected ${t.bytes}`);
    this.put(bytes);
    this.next++;
    if (this.next < this.tensors.length) this.pad();
  }

  /** After the last tensor: fsync, rename into place, fsync the directory. */
  finish(): void {
    if (this.nextName !== null) throw new Error(`GGUF ${this.outPath}: finished before tensor ${this.nextName} was written`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    // another export to the same path may have finished meanwhile: replaced only with --overwrite
    if (!this.overwrite && existsSync(this.outPath)) throw new Error(`${this.outPath}: output file appeared during the export (pass --overwrite to replace it); nothing was written`);
    renameSync(this.tmpPath, this.outPath);
    releaseTemporary(this.tmpPath);
    const dir = openSync(dirname(this.outPath), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.tmpPath, { force: true });
    releaseTemporary(this.tmpPath);
  }
}
