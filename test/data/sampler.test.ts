// The sampler's contract (DESIGN.md "Steps and epochs"): seeded per-epoch permutations,
// fixed global-batch slices, partial last batch dropped, and a step's rows independent of
// world size and of the micro-batch / accumulation split.
import { describe, expect, it } from 'vitest';

import { Rng, permutation } from '../../src/data/rng.js';
import { Sampler } from '../../src/data/sampler.js';

const sorted = (a: ArrayLike<number>) => Array.from(a).sort((x, y) => x - y);

describe('Sampler', () => {
  it('gives every step the same rows whatever the world size and micro/accumulation split', () => {
    // Global batch 12 in five different shapes.
    const shapes = [
      { microBatch: 12, gradAccum: 1, worldSize: 1 },
      { microBatch: 1, gradAccum: 12, worldSize: 1 },
      { microBatch: 2, gradAccum: 3, worldSize: 2 },
      { microBatch: 3, gradAccum: 1, worldSize: 4 },
      { microBatch: 1, gradAccum: 2, worldSize: 6 },
    ];
    const samplers = shapes.map((s) => new Sampler({ numRows: 100, seed: 7, ...s }));
    for (const step of [0, 1, 7, 8, 9, 30]) {
      const ref = sorted(samplers[0]!.globalBatchRows(step));
      for (const s of samplers) {
        expect(s.stepsPerEpoch).toBe(8); // floor(100 / 12): the partial 9th batch is dropped
        // The union of every (rank, micro-step) sub-slice is the global batch, without overlap.
        const parts: number[] = [];
        for (let r = 0; r < s.cfg.worldSize; r++) {
          for (let m = 0; m < s.cfg.gradAccum; m++) parts.push(...s.microBatchRows(step, r, m));
        }
        expect(parts.length).toBe(12);
        expect(sorted(parts)).toEqual(ref);
      }
    }
  });

  it('walks each epoch as a seeded permutation, dropping the last partial batch', () => {
    const s = new Sampler({ numRows: 10, microBatch: 3, gradAccum: 1, worldSize: 1, seed: 3 });
    expect(s.stepsPerEpoch).toBe(3);
    const epoch0 = [0, 1, 2].flatMap((k) => Array.from(s.globalBatchRows(k)));
    const epoch1 = [3, 4, 5].flatMap((k) => Array.from(s.globalBatchRows(k)));
    expect(new Set(epoch0).size).toBe(9); // 9 distinct rows: one row of 10 is left out this epoch
    expect(epoch0).toEqual(Array.from(permutation(10, new Rng(3, 0)).slice(0, 9)));
    expect(epoch1).toEqual(Array.from(permutation(10, new Rng(3, 1)).slice(0, 9)));
    expect(epoch1).not.toEqual(epoch0); // a new order each epoch
    // Same seed -> same order; another seed -> another order.
    const again = new Sampler({ numRows: 10, microBatch: 3, gradAccum: 1, worldSize: 1, seed: 3 });
    expect(Array.from(again.globalBatchRows(4))).toEqual(Array.from(s.globalBatchRows(4)));
    const other = new Sampler({ numRows: 10, microBatch: 3, gradAccum: 1, worldSize: 1, seed: 4 });
    expect(Array.from(other.globalBatchRows(0))).not.toEqual(Array.from(s.globalBatchRows(0)));
    expect(s.position(7)).toEqual({ epoch: 2, stepInEpoch: 1 });
  });

  it('is an error with fewer rows than one global batch, or bad ranks / micro-steps', () => {
    expect(() => new Sampler({ numRows: 7, microBatch: 2, gradAccum: 2, worldSize: 2, seed: 0 })).toThrow(
      /7 rows, fewer than one global batch of 8/,
    );
    const s = new Sampler({ numRows: 8, microBatch: 2, gradAccum: 2, worldSize: 2, seed: 0 });
    expect(() => s.microBatchRows(0, 2, 0)).toThrow(/rank 2/);
    expect(() => s.microBatchRows(0, 0, 2)).toThrow(/micro-step 2/);
  });

  it('draws uniform permutations (chi-square on first positions)', () => {
    // 6000 permutations of 6: each value should sit first ~1000 times. chi2 with 5 dof:
    // P(chi2 > 20.5) ~= 0.001, so a fair generator fails this about once in a thousand seeds.
    const counts = new Array(6).fill(0);
    const rng = new Rng(123);
    for (let i = 0; i < 6000; i++) counts[permutation(6, rng)[0]!]++;
    const chi2 = counts.reduce((s, c) => s + (c - 1000) ** 2 / 1000, 0);
    expect(chi2).toBeLessThan(20.5);
  });
});
