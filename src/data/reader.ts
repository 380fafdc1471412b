// Random access to a dataset dir's rows by global index, for the trainer. Shards are read
// page by page: a row's record batch is read from its shard's Arrow footer offset on demand
// and a few recent batches are cached, so memory is bounded by the cache, not the dataset.
// Opening checks every shard's size and sha256 against the manifest; a record batch's shape
// is checked when it is read, and each row's invariants when it is handed out
// (src/data/verify.ts), so a bad row fails naming shard and row before it reaches a kernel.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { DataType, RecordBatchReader, type AsyncRecordBatchFileReader, type RecordBatch } from 'apache-arrow';

import { readManifest, type Manifest } from './manifest.js';
import { COLUMNS } from './shards.js';
import { checkRow, verifyShards } from './verify.js';

export interface Row {
  inputIds: Int32Array;
  labels: Int32Array;
  docLens: Int32Array;
}

export interface ReaderOptions {
  /**
   * Token ids must lie below this (the model's embedding rows). The bound used is the smaller
   * of this and the build tokenizer's vocab_size, which no id it produced can reach.
   */
  vocab?: number;
  /** Record batches kept in memory. */
  cacheBatches?: number;
}

interface OpenShard {
  handle: FileHandle;
  reader: AsyncRecordBatchFileReader;
  /** Reads on one reader are serialized (it seeks a shared file position). */
  queue: Promise<unknown>;
}

export class DatasetReader {
  private readonly starts: number[] = []; // global index of each shard's first row
  private readonly openShards = new Map<number, Promise<OpenShard>>();
  private readonly cache = new Map<string, Promise<RecordBatch>>(); // LRU by insertion order
  private readonly cacheBatches: number;
  /** Exclusive bound on token ids. */
  readonly vocab: number;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    opts: ReaderOptions,
  ) {
    let s = 0;
    for (const sh of manifest.shards) {
      this.starts.push(s);
      s += sh.rows;
    }
    this.cacheBatches = opts.cacheBatches ?? 8;
    this.vocab = Math.min(opts.vocab ?? Infinity, manifest.tokenizer.vocab_size);
  }

  /**
   * Opens a dataset dir: reads its manifest and checks every shard's size and sha256 (a
   * damaged or replaced shard fails here, named); shards are then read lazily.
   */
  static open(dir: string, opts: ReaderOptions = {}): DatasetReader {
    const manifest = readManifest(dir);
    verifyShards(dir, manifest);
    return new DatasetReader(dir, manifest, opts);
  }

  get numRows(): number {
    return this.manifest.rows;
  }

  /** Row `index` (0-based, global over shards). */
  async row(index: number): Promise<Row> {
    if (!Number.isInteger(index) || index < 0 || index >= this.numRows) {
      throw new RangeError(`${this.dir}: row ${index} out of range (dataset has ${this.numRows} rows)`);
    }
    // Last shard whose start <= index (binary search).
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    const local = index - this.starts[lo]!;
    const perBatch = this.manifest.rows_per_batch;
    const batch = await this.batch(lo, Math.floor(local / perBatch));
    const r = local % perBatch;
    const [inputIds, labels, docLens] = COLUMNS.map((name) => listRow(batch, name, r)) as [Int32Array, Int32Array, Int32Array];
    this.checkRow(inputIds, labels, docLens, lo, local);
    return { inputIds, labels, docLens };
  }

  async rows(indices: ArrayLike<number>): Promise<Row[]> {
    return Promise.all(Array.from(indices, (i) => this.row(i)));
  }

  /** Reads every row once, in order (so every one is checked); returns the row count. */
  async checkAllRows(): Promise<number> {
    const perBatch = this.manifest.rows_per_batch;
    for (const [s, sh] of this.manifest.shards.entries()) {
      for (let i = 0; i < sh.rows; i++) await this.row(this.starts[s]! + i);
      // The footer must list exactly the manifest's batches (no extra ones).
      const batches = (await this.shard(s)).reader.numRecordBatches;
      const expected = Math.ceil(sh.rows / perBatch);
      if (batches !== expected) throw new Error(`${join(this.dir, sh.file)}: ${batches} record batches, expected ${expected}`);
    }
    return this.numRows;
  }

  private shard(s: number): Promise<OpenShard> {
    let p = this.openShards.get(s);
    if (!p) {
      p = (async () => {
        const path = join(this.dir, this.manifest.shards[s]!.file);
        const handle = await open(path, 'r');
        const reader = (await RecordBatchReader.from(handle)) as AsyncRecordBatchFileReader;
        await reader.open();
        if (!reader.isFile()) throw new Error(`${path}: not an Arrow IPC file`);
        return { handle, reader, queue: Promise.resolve() };
      })();
      this.openShards.set(s, p);
    }
    return p;
  }

  private batch(s: number, b: number): Promise<RecordBatch> {
    const key = `${s}:${b}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const p = this.shard(s).then((sh) => {
      const next = sh.queue.then(async () => {
        const rb = await sh.reader.readRecordBatch(b);
        if (!rb) throw new Error(`${join(this.dir, this.manifest.shards[s]!.file)}: record batch ${b} is missing`);
        this.checkBatch(rb, s, b);
        return rb;
      });
      sh.queue = next.catch(() => undefined);
      return next;
    });
    this.cache.set(key, p);
    while (this.cache.size > this.cacheBatches) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }

  private checkRow(ids: Int32Array, labels: Int32Array, docLens: Int32Array, s: number, local: number): void {
    const file = join(this.dir, this.manifest.shards[s]!.file);
    checkRow(ids, labels, docLens, { file, local, global: this.starts[s]! + local, vocab: this.vocab, maxSeqLen: this.manifest.max_seq_len });
  }

  /** The batch's row count and column types (its rows are checked as they are handed out). */
  private checkBatch(rb: RecordBatch, s: number, b: number): void {
    const sh = this.manifest.shards[s]!;
    const file = join(this.dir, sh.file);
    const perBatch = this.manifest.rows_per_batch;
    const expected = Math.min(perBatch, sh.rows - b * perBatch);
    if (rb.numRows !== expected) throw new Error(`${file}: record batch ${b} holds ${rb.numRows} rows, expected ${expected}`);
    for (const name of COLUMNS) {
      const vec = rb.getChild(name);
      if (!vec) throw new Error(`${file}: column ${name} is missing`);
      const t = vec.type;
      const item = DataType.isList(t) ? t.children[0]!.type : undefined;
      if (!item || !DataType.isInt(item) || item.bitWidth !== 32 || !item.isSigned || vec.nullCount !== 0) {
        throw new Error(`${file}: column ${name} is ${String(t)}${vec.nullCount ? ' with nulls' : ''}, not List<Int32>`);
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.openShards.values()) {
      const sh = await p;
      await sh.handle.close();
    }
    this.openShards.clear();
    this.cache.clear();
  }
}

function listRow(batch: RecordBatch, column: string, r: number): Int32Array {
  const vec = batch.getChild(column);
  if (!vec) throw new Error(`Arrow shard: column ${column} is missing`);
  const data = vec.data[0]!;
  const offsets = data.valueOffsets as Int32Array;
  const child = data.children[0]!;
  const values = child.values as Int32Array;
  const start = offsets[data.offset + r]!;
  const end = offsets[data.offset + r + 1]!;
  return values.subarray(child.offset + start, child.offset + end);
}
