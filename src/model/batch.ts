// A micro-batch: unpadded rows of packed documents, concatenated into T tokens.
// Labels follow Hugging Face (aligned with input_ids, -100 = no loss); the model predicts
// labels[t+1] from token t only inside one document, so the shift never crosses documents.
import { Arena, INT32, type Tensor } from '../native/tensor.js';

export interface Row {
  inputIds: ArrayLike<number>;
  labels: ArrayLike<number>;
  /** Lengths of the documents packed in this row; they sum to the row length. */
  docLens: ArrayLike<number>;
}

export const IGNORE_INDEX = -100;

/** Where a batch sits in training; seeds its dropout masks (model/dropout.ts). */
export interface BatchOrigin {
  /** Optimizer step, 1-based. */
  step: number;
  /** Index of each row in the step's global batch (independent of world size and micro-batch split). */
  rows: Int32Array;
}

export interface HostBatch {
  tokens: number;
  /** Token offset of each row, plus the total: rows + 1 entries. */
  rowStarts: Int32Array;
  /** Set by the data feed for training; needed only when hidden dropout is on. */
  origin?: BatchOrigin;
  ids: Int32Array;
  positions: Int32Array;
  targets: Int32Array;
  cuSeqlens: Int32Array;
  /** Tokens whose target carries loss. */
  labelCount: number;
  /** Longest document (bounds the rotary table). */
  maxDocLen: number;
}

export function buildHostBatch(rows: readonly Row[]): HostBatch {
  let tokens = 0;
  let docs = 0;
  for (const [r, row] of rows.entries()) {
    if (row.labels.length !== row.inputIds.length) throw new Error(`row ${r}: ${row.labels.length} labels for ${row.inputIds.length} tokens`);
    let sum = 0;
    for (let d = 0; d < row.docLens.length; d++) {
      if (!(row.docLens[d]! > 0)) throw new Error(`row ${r}: document ${d} has length ${row.docLens[d]}`);
      sum += row.docLens[d]!;
    }
    if (sum !== row.inputIds.length) throw new Error(`row ${r}: doc_lens sum to ${sum}, row has ${row.inputIds.length} tokens`);
    tokens += sum;
    docs += row.docLens.length;
  }
  const ids = new Int32Array(tokens);
  const positions = new Int32Array(tokens);
  const targets = new Int32Array(tokens).fill(IGNORE_INDEX);
  const cuSeqlens = new Int32Array(docs + 1);
  const rowStarts = new Int32Array(rows.length + 1);
  let t = 0;
  let d = 0;
  let labelCount = 0;
  let maxDocLen = 0;
  for (const [r, row] of rows.entries()) {
    rowStarts[r] = t;
    let rowPos = 0;
    for (let k = 0; k < row.docLens.length; k++) {
      const len = row.docLens[k]!;
      maxDocLen = Math.max(maxDocLen, len);
      for (let i = 0; i < len; i++) {
        ids[t] = row.inputIds[rowPos + i]!;
        positions[t] = i;
        if (i + 1 < len) {
          const label = row.labels[rowPos + i + 1]!;
          targets[t] = label;
          if (label !== IGNORE_INDEX) labelCount++;
        }
        t++;
      }
      rowPos += len;
      cuSeqlens[++d] = t;
    }
  }
  rowStarts[rows.length] = t;
  return { tokens, rowStarts, ids, positions, targets, cuSeqlens, labelCount, maxDocLen };
}

/** The batch's index tensors in native memory (freed with the arena). */
export interface DeviceBatch {
  host: HostBatch;
  ids: Tensor;
  positions: Tensor;
  targets: Tensor;
  cuSeqlens: Tensor;
}

export function uploadBatch(host: HostBatch, arena: Arena): DeviceBatch {
  const make = (values: Int32Array): Tensor => {
    const t = arena.alloc(INT32, [values.length]);
    t.writeInt32(values);
    return t;
  };
  return { host, ids: make(host.ids), positions: make(host.positions), targets: make(host.targets), cuSeqlens: make(host.cuSeqlens) };
}
