// Collation of packed rows: targets are the next token's label inside the same document only
// (never across a document or row boundary), positions restart per document, cu_seqlens mark
// every document, and the loss-token count matches the stored labels.
import { describe, expect, it } from 'vitest';

import { collate } from '../../src/data/collate.js';

const _ = -100;
const row = (ids: number[], labels: number[], docLens: number[]) => ({
  inputIds: Int32Array.from(ids),
  labels: Int32Array.from(labels),
  docLens: Int32Array.from(docLens),
});

describe('collate', () => {
  it('shifts labels into targets inside each document and restarts positions', () => {
    // Row 0: doc A = [4 10 5 11 2] (answer 11 and <_end> 2 carry loss), doc B = [4 12 5 13 2].
    // Row 1: doc C = [4 14 5 15 2].
    const r0 = row([4, 10, 5, 11, 2, 4, 12, 5, 13, 2], [_, _, _, 11, 2, _, _, _, 13, 2], [5, 5]);
    const r1 = row([4, 14, 5, 15, 2], [_, _, _, 15, 2], [5]);
    const b = collate([r0, r1]);
    expect(Array.from(b.inputIds)).toEqual([4, 10, 5, 11, 2, 4, 12, 5, 13, 2, 4, 14, 5, 15, 2]);
    // <_bot> (pos 2) predicts the answer, the answer predicts <_end>, <_end> predicts nothing
    // (the next document's <_user> is not its target).
    expect(Array.from(b.targets)).toEqual([_, _, 11, 2, _, _, _, 13, 2, _, _, _, 15, 2, _]);
    expect(Array.from(b.positions)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(Array.from(b.cuSeqlens)).toEqual([0, 5, 10, 15]);
    expect(b.numDocs).toBe(3);
    expect(b.lossTokens).toBe(6);
  });

  it('never takes a target across documents even when the next document starts with a loss label', () => {
    const r = row([7, 8, 9, 1], [_, 8, 9, 1], [2, 2]);
    expect(Array.from(collate([r]).targets)).toEqual([8, _, 1, _]);
  });

  it('rejects doc_lens that do not cover the row', () => {
    expect(() => collate([row([1, 2, 3], [_, _, _], [2])])).toThrow(/doc_lens sum 2 != row length 3/);
  });
});
