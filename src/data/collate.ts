// Rows -> one flat micro-batch for the model: the rows' tokens back to back (no padding),
// with per-document positions and cu_seqlens, so attention stays inside each document and
// positions restart at 0 in each (DESIGN.md "Dataset dir"). Labels are stored aligned with
// input_ids (Hugging Face convention); here they are shifted into next-token targets, and the
// last token of every document gets -100, so no loss ever crosses a document boundary.
import { IGNORE_INDEX } from './encode.js';
import type { Row } from './reader.js';

export interface MicroBatch {
  /** [T] token ids of all rows, concatenated. */
  inputIds: Int32Array;
  /** [T] target of each position: the next token's label within the same document, else -100. */
  targets: Int32Array;
  /** [T] position of each token within its document. */
  positions: Int32Array;
  /** [numDocs + 1] document start offsets into the T tokens, ending with T. */
  cuSeqlens: Int32Array;
  numDocs: number;
  /** Targets that carry loss (not -100): the micro-batch's share of the loss denominator. */
  lossTokens: number;
}

export function collate(rows: readonly Row[]): MicroBatch {
  let T = 0;
  let numDocs = 0;
  for (const r of rows) {
    T += r.inputIds.length;
    numDocs += r.docLens.length;
  }
  const inputIds = new Int32Array(T);
  const targets = new Int32Array(T);
  const positions = new Int32Array(T);
  const cuSeqlens = new Int32Array(numDocs + 1);
  let o = 0;
  let d = 0;
  let lossTokens = 0;
  for (const r of rows) {
    inputIds.set(r.inputIds, o);
    let start = 0;
    for (const len of r.docLens) {
      for (let i = 0; i < len; i++) {
        positions[o + start + i] = i;
        const t = i + 1 < len ? r.labels[start + i + 1]! : IGNORE_INDEX;
        targets[o + start + i] = t;
        if (t !== IGNORE_INDEX) lossTokens++;
      }
      start += len;
      cuSeqlens[++d] = o + start;
    }
    if (start !== r.inputIds.length) throw new Error(`collate: doc_lens sum ${start} != row length ${r.inputIds.length}`);
    o += r.inputIds.length;
  }
  return { inputIds, targets, positions, cuSeqlens, numDocs, lossTokens };
}
