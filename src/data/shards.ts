// Arrow IPC shards: `shard-NNNNN.arrow` files (IPC file format, random-access footer) with
// columns input_ids, labels, doc_lens, each List<Int32>. Rows are grouped into record batches
// of a fixed number of rows (the reader maps a row index to its batch by division); a shard
// closes after roughly `tokensPerShard` tokens, so one shard's bytes bound the writer's memory.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Field, Int32, List, RecordBatch, RecordBatchFileWriter, Schema, Struct, makeData, type Data } from 'apache-arrow';

export const COLUMNS = ['input_ids', 'labels', 'doc_lens'] as const;

const listType = (): List<Int32> => new List(new Field('item', new Int32(), false));

export const SHARD_SCHEMA = new Schema(COLUMNS.map((name) => new Field(name, listType(), false)));

export interface ShardRow {
  inputIds: Int32Array;
  labels: Int32Array;
  docLens: Int32Array;
}

export interface ShardInfo {
  file: string;
  rows: number;
  tokens: number;
  /** File size; checked with sha256 whenever the dataset is opened (src/data/verify.ts). Absent in early manifests. */
  bytes?: number;
  /** Of the file's bytes: opening checks the file is intact, resuming that it is the same data. */
  sha256: string;
}

/** Growable Int32 column builder: values plus list offsets. */
class ListColumn {
  private values = new Int32Array(1024);
  private n = 0;
  offsets: number[] = [0];

  push(v: Int32Array): void {
    this.pushMany([v]);
  }

  /** One list entry made of several arrays back to back. */
  pushMany(parts: readonly Int32Array[]): void {
    let len = 0;
    for (const p of parts) len += p.length;
    if (this.n + len > this.values.length) {
      let cap = this.values.length;
      while (cap < this.n + len) cap *= 2;
      const grown = new Int32Array(cap);
      grown.set(this.values.subarray(0, this.n));
      this.values = grown;
    }
    for (const p of parts) {
      this.values.set(p, this.n);
      this.n += p.length;
    }
    this.offsets.push(this.n);
  }

  toData(): Data<List<Int32>> {
    const child = makeData({ type: new Int32(), length: this.n, nullCount: 0, data: this.values.slice(0, this.n) });
    return makeData({
      type: listType(),
      length: this.offsets.length - 1,
      nullCount: 0,
      valueOffsets: Int32Array.from(this.offsets),
      child,
    });
  }
}

export class ShardWriter {
  readonly shards: ShardInfo[] = [];
  private writer: RecordBatchFileWriter | undefined;
  private cols: ListColumn[] = [];
  private batchRows = 0;
  private shardRows = 0;
  private shardTokens = 0;

  constructor(
    readonly dir: string,
    readonly rowsPerBatch = 1024,
    readonly tokensPerShard = 1 << 23,
  ) {
    this.resetBatch();
  }

  private resetBatch(): void {
    this.cols = COLUMNS.map(() => new ListColumn());
    this.batchRows = 0;
  }

  write(row: ShardRow): void {
    if (row.labels.length !== row.inputIds.length) throw new Error('shard row: labels and input_ids differ in length');
    let sum = 0;
    for (const d of row.docLens) sum += d;
    if (sum !== row.inputIds.length) throw new Error(`shard row: doc_lens sum ${sum} != row length ${row.inputIds.length}`);
    this.writer ??= new RecordBatchFileWriter();
    this.cols[0]!.push(row.inputIds);
    this.cols[1]!.push(row.labels);
    this.cols[2]!.push(row.docLens);
    this.endRow(row.inputIds.length);
  }

  /** One row made of documents (concatenated, doc_lens = their lengths) without building it first. */
  writeDocs(docs: readonly { ids: Int32Array; labels: Int32Array }[]): void {
    const docLens = new Int32Array(docs.length);
    docs.forEach((d, i) => {
      if (d.labels.length !== d.ids.length) throw new Error('shard row: labels and input_ids differ in length');
      docLens[i] = d.ids.length;
    });
    this.writer ??= new RecordBatchFileWriter();
    this.cols[0]!.pushMany(docs.map((d) => d.ids));
    this.cols[1]!.pushMany(docs.map((d) => d.labels));
    this.cols[2]!.push(docLens);
    this.endRow(docLens.reduce((a, b) => a + b, 0));
  }

  private endRow(tokens: number): void {
    this.batchRows++;
    this.shardRows++;
    this.shardTokens += tokens;
    if (this.batchRows === this.rowsPerBatch) {
      this.flushBatch();
      if (this.shardTokens >= this.tokensPerShard) this.closeShard();
    }
  }

  private flushBatch(): void {
    if (this.batchRows === 0) return;
    const children = this.cols.map((c) => c.toData());
    const data = makeData({ type: new Struct(SHARD_SCHEMA.fields), length: this.batchRows, nullCount: 0, children });
    this.writer!.write(new RecordBatch(SHARD_SCHEMA, data));
    this.resetBatch();
  }

  private closeShard(): void {
    if (!this.writer) return;
    this.flushBatch();
    this.writer.finish();
    const file = `shard-${String(this.shards.length).padStart(5, '0')}.arrow`;
    const bytes = this.writer.toUint8Array(true);
    writeFileSync(join(this.dir, file), bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    this.shards.push({ file, rows: this.shardRows, tokens: this.shardTokens, bytes: bytes.length, sha256 });
    this.writer = undefined;
    this.shardRows = 0;
    this.shardTokens = 0;
  }

  finish(): ShardInfo[] {
    this.closeShard();
    return this.shards;
  }
}
