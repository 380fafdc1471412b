// Random access to a dataset dir's rows by global index, for the trainer. Shards are read
// page by page: a row's record batch is read from its shard's Arrow footer offset on demand
// and a few recent batches are cached, so memory is bounded by the cache, not the dataset.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { RecordBatchReader, type AsyncRecordBatchFileReader, type RecordBatch } from 'apache-arrow';

import { readManifest, type Manifest } from './manifest.js';
import { COLUMNS } from './shards.js';

export interface Row {
  inputIds: Int32Array;
  labels: Int32Array;
  docLens: Int32Array;
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

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly cacheBatches: number,
  ) {
    let s = 0;
    for (const sh of manifest.shards) {
      this.starts.push(s);
      s += sh.rows;
    }
  }

  /** Opens a dataset dir (reads only its manifest; shards open lazily). */
  static open(dir: string, cacheBatches = 8): DatasetReader {
    return new DatasetReader(dir, readManifest(dir), cacheBatches);
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
    return { inputIds, labels, docLens };
  }

  async rows(indices: ArrayLike<number>): Promise<Row[]> {
    return Promise.all(Array.from(indices, (i) => this.row(i)));
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
        if (!rb) throw new Error(`${this.dir}/${this.manifest.shards[s]!.file}: record batch ${b} is missing`);
        return rb;
      });
      sh.queue = next.catch(() => undefined);
      return next;
    });
    this.cache.set(key, p);
    while (this.cache.size > this.cacheBatches) this.cache.delete(this.cache.keys().next().value!);
    return p;
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
