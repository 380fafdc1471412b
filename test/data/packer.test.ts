// Best-fit packing: every document lands whole in exactly one row, rows never exceed the
// capacity, and the fill is close to the bound sum(lengths) / capacity.
import { describe, expect, it } from 'vitest';

import type { Piece } from '../../src/data/encode.js';
import { BestFitPacker, type PackedRow } from '../../src/data/packer.js';
import { Rng } from '../../src/data/rng.js';

function doc(id: number, len: number): Piece {
  return { ids: new Int32Array(len).fill(id), labels: new Int32Array(len).fill(-100) };
}

function pack(lengths: number[], capacity: number, bufferTokens?: number): PackedRow[] {
  const rows: PackedRow[] = [];
  const p = new BestFitPacker(capacity, (r) => rows.push(r), bufferTokens);
  lengths.forEach((n, i) => p.add(doc(i, n)));
  p.finish();
  return rows;
}

function check(lengths: number[], capacity: number, rows: PackedRow[]): void {
  const seen = new Array(lengths.length).fill(0);
  for (const r of rows) {
    expect(r.tokens).toBeLessThanOrEqual(capacity);
    expect(r.docs.reduce((s, d) => s + d.ids.length, 0)).toBe(r.tokens);
    for (const d of r.docs) {
      const id = d.ids[0]!;
      expect(d.ids.length).toBe(lengths[id]); // whole, never cut
      seen[id]++;
    }
  }
  expect(seen.every((c) => c === 1)).toBe(true);
}

describe('BestFitPacker', () => {
  it('places every document once, within capacity, near the lower bound of rows', () => {
    const rng = new Rng(5);
    const lengths = Array.from({ length: 3000 }, () => 1 + rng.below(400));
    const rows = pack(lengths, 512);
    check(lengths, 512, rows);
    const bound = Math.ceil(lengths.reduce((s, n) => s + n, 0) / 512);
    expect(rows.length).toBeLessThanOrEqual(Math.ceil(bound * 1.01)); // within 1% of the optimum's bound
  });

  it('streams in bounded rounds, carrying poorly filled rows forward, and still places everything', () => {
    const rng = new Rng(9);
    const lengths = Array.from({ length: 5000 }, () => 1 + rng.below(300));
    const rows = pack(lengths, 512, 20_000); // about 25 rounds
    check(lengths, 512, rows);
    const tokens = lengths.reduce((s, n) => s + n, 0);
    expect(tokens / (rows.length * 512)).toBeGreaterThan(0.97);
  });

  it('packs largest first into the tightest row that fits (a worked example)', () => {
    // Decreasing order 6, 5, 5, 4 into rows of 10: 6 opens row A (free 4), 5 opens row B
    // (free 5), the second 5 fits only B (exactly), 4 fits only A (exactly): two full rows.
    const rows = pack([5, 4, 6, 5], 10);
    expect(rows.map((r) => r.docs.map((d) => d.ids.length))).toEqual([[6, 4], [5, 5]]);
  });

  it('rejects a document longer than a row', () => {
    expect(() => pack([11], 10)).toThrow(/does not fit rows of 10/);
  });
});
