// safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then the
// data. Tensors are read by offset (never the whole file) and the header is validated
// strictly: a bad file gives one error naming it.
import { closeSync, fsyncSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { FILE_DTYPE_SIZE, type FileDtype, bytesToFloat32, isFileDtype } from './dtypes.js';
import type { TensorFile, TensorInfo } from './tensor_file.js';

export interface StTensorInfo extends TensorInfo {
  /** Absolute byte range of the data in the file. */
  begin: number;
  end: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export class SafetensorsReader implements TensorFile {
  readonly tensors = new Map<string, StTensorInfo>();
  readonly metadata: Record<string, string> = {};
  private fd: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.parseHeader();
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  private fail(reason: string): never {
    throw new SafetensorsError(`${this.path}: not a valid safetensors file: ${reason}`);
  }

  private parseHeader(): void {
    const fileSize = fstatSync(this.fd).size;
    if (fileSize < 8) this.fail(`file is ${fileSize} bytes, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readSync(this.fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES) this.fail(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES}`);
    if (8 + headerLen > fileSize) this.fail(`header length ${headerLen} runs past the end of the file (${fileSize} bytes)`);
    const headerBuf = Buffer.alloc(headerLen);
    readSync(this.fd, headerBuf, 0, headerLen, 8);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (err) {
      this.fail(`header is not JSON (${(err as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) this.fail('header is not a JSON object');
    const dataStart = 8 + headerLen;
    const dataSize = fileSize - dataStart;
    const ranges: Array<[number, number, string]> = [];
    for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof value !== 'object' || value === null) this.fail('__metadata__ is not an object');
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          if (typeof v !== 'string') this.fail(`__metadata__.${k} is not a string`);
          this.metadata[k] = v;
        }
        continue;
      }
      const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof info !== 'object' || info === null) this.fail(`tensor ${name}: entry is not an object`);
      if (typeof info.dtype !== 'string' || !isFileDtype(info.dtype)) this.fail(`tensor ${name}: unknown dtype ${JSON.stringify(info.dtype)}`);
      if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) this.fail(`tensor ${name}: bad shape ${JSON.stringify(info.shape)}`);
      const offs = info.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
        this.fail(`tensor ${name}: bad data_offsets ${JSON.stringify(offs)}`);
      }
      const shape = info.shape as number[];
      const [b, e] = offs as [number, number];
      const expected = shape.reduce((a, d) => a * d, 1) * FILE_DTYPE_SIZE[info.dtype];
      if (e - b !== expected) this.fail(`tensor ${name}: ${e - b} bytes of data for shape [${shape}] ${info.dtype} (expected ${expected})`);
      if (e > dataSize) this.fail(`tensor ${name}: data_offsets end ${e} beyond the data section (${dataSize} bytes; truncated file?)`);
      ranges.push([b, e, name]);
      this.tensors.set(name, { name, dtype: info.dtype, shape, begin: dataStart + b, end: dataStart + e });
    }
    ranges.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i]![0] < ranges[i - 1]![1]) this.fail(`tensors ${ranges[i - 1]![2]} and ${ranges[i]![2]} overlap`);
    }
  }

  info(name: string): StTensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named ${name}`);
    return t;
  }

  readBytes(name: string): Uint8Array {
    const t = this.info(name);
    const out = new Uint8Array(t.end - t.begin);
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, t.begin + done);
      if (n <= 0) throw new SafetensorsError(`${this.path}: unexpected end of file reading ${name}`);
      done += n;
    }
    return out;
  }

  readFloat32(name: string): Float32Array {
    return bytesToFloat32(this.readBytes(name), this.info(name).dtype);
  }

  /** Elements [start, start + count) of an F32 tensor, read by offset. */
  readF32Range(name: string, start: number, count: number): Float32Array {
    const t = this.info(name);
    if (t.dtype !== 'F32') throw new SafetensorsError(`${this.path}: tensor ${name} is ${t.dtype}, expected F32`);
    const n = (t.end - t.begin) / 4;
    if (start < 0 || count < 0 || start + count > n) throw new SafetensorsError(`${this.path}: range [${start}, ${start + count}) outside tensor ${name} of ${n} elements`);
    const out = new Float32Array(count);
    const bytes = new Uint8Array(out.buffer);
    let done = 0;
    while (done < bytes.length) {
      const got = readSync(this.fd, bytes, done, bytes.length - done, t.begin + start * 4 + done);
      if (got <= 0) throw new SafetensorsError(`${this.path}: unexpected end of file reading ${name}`);
      done += got;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

export interface StTensorOut {
  name: string;
  dtype: FileDtype;
  shape: number[];
  /** Produces the tensor's bytes when the writer reaches it (one tensor in memory at a time). */
  data: () => Uint8Array;
}

export type StTensorSpec = Omit<StTensorOut, 'data'>;

export function tensorBytes(t: StTensorSpec): number {
  return t.shape.reduce((a, d) => a * d, 1) * FILE_DTYPE_SIZE[t.dtype];
}

/**
 * Writes one safetensors file tensor by tensor: the header (all names, dtypes and shapes) goes
 * first, then `write` takes each tensor's bytes in header order, so only one tensor is ever
 * in memory. `close` checks every tensor arrived and fsyncs. It writes `path` directly:
 * callers wanting atomicity write into a temporary name or directory.
 */
export class SafetensorsStreamWriter {
  private fd: number | null;
  private next = 0;
  private readonly offsets = new Map<string, number>();
  private readonly dataStart: number;

  constructor(
    readonly path: string,
    private readonly specs: StTensorSpec[],
    metadata?: Record<string, string>,
  ) {
    const header: Record<string, unknown> = {};
    if (metadata) header['__metadata__'] = metadata;
    let offset = 0;
    for (const t of specs) {
      if (t.name === '__metadata__' || t.name in header) throw new SafetensorsError(`${path}: duplicate or reserved tensor name ${t.name}`);
      const bytes = tensorBytes(t);
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
      this.offsets.set(t.name, offset);
      offset += bytes;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
    const headerBytes = Buffer.from(json, 'utf8');
    const lenBuf = Buffer.alloc(8);
    lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
    this.dataStart = 8 + headerBytes.length;
    this.fd = openSync(path, 'w+');
    this.writeAll(lenBuf);
    this.writeAll(headerBytes);
  }

  private writeAll(data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd!, data, done, data.length - done);
  }

  /** The next tensor's bytes, named to catch out-of-order writers. */
  write(name: string, data: Uint8Array): void {
    if (this.fd === null) throw new SafetensorsError(`${this.path}: write after close`);
    const t = this.specs[this.next];
    if (!t || t.name !== name) throw new SafetensorsError(`${this.path}: expected tensor ${t?.name ?? '(none: all written)'} next, got ${name}`);
    if (data.length !== tensorBytes(t)) throw new SafetensorsError(`${this.path}: tensor ${name} has ${data.length} bytes, expected ${tensorBytes(t)}`);
    this.writeAll(data);
    this.next++;
  }

  /** Bytes of a tensor already written to this file (e.g. to store a tied copy of it). */
  readBack(name: string): Uint8Array {
    const i = this.specs.findIndex((t) => t.name === name);
    if (this.fd === null || i < 0 || i >= this.next) throw new SafetensorsError(`${this.path}: tensor ${name} has not been written here`);
    const out = new Uint8Array(tensorBytes(this.specs[i]!));
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, this.dataStart + this.offsets.get(name)! + done);
      if (n <= 0) throw new SafetensorsError(`${this.path}: cannot read back ${name}`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd === null) return;
    if (this.next !== this.specs.length) throw new SafetensorsError(`${this.path}: closed after ${this.next} of ${this.specs.length} tensors`);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }

  /** Closes without the completeness check (the caller discards the file). */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Writes a safetensors file atomically (temporary file, fsync, rename). */
export function writeSafetensors(path: string, tensors: StTensorOut[], metadata?: Record<string, string>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const w = new SafetensorsStreamWriter(tmp, tensors, metadata);
  try {
    for (const t of tensors) w.write(t.name, t.data());
    w.close();
  } catch (err) {
    w.abort();
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, path);
}
