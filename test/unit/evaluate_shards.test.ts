// The evaluator's sharding of the eval rows (src/train/evaluate.ts): over every world size and
// micro-batch, each row is evaluated by exactly one rank, every rank runs the same number of
// forwards at stage 3 (the parameter gathers are collective), and the all-reduced sums give the
// mean over every label token, overall and per source.
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/data/manifest.js';
import type { HostBatch, Row } from '../../src/model/batch.js';
import { type EvalEngine, type EvalRows, Evaluator } from '../../src/train/evaluate.js';

const N = 11;
/** Row i: 2 + (i % 3) tokens, all ids = i, labels on every token but the first. */
function row(i: number): Row {
  const n = 2 + (i % 3);
  return { inputIds: new Array<number>(n).fill(i), labels: [-100, ...new Array<number>(n - 1).fill(i)], docLens: [n] };
}

function rowsOf(sources: Record<string, [number, number][]> | null): EvalRows {
  const manifest = {
    sources: sources
      ? Object.fromEntries(Object.entries(sources).map(([name, ranges]) => [name, { row_ranges: ranges }]))
      : { 'one.jsonl': {} },
  } as unknown as Manifest;
  return { manifest, numRows: N, dir: '/eval', rows: (idx: ArrayLike<number>) => Promise.resolve(Array.from(idx, row)) };
}

/** Rank r's evaluation; its "loss" of a token is the token's id, so the mean is checkable. */
async function runRanks(world: number, micro: number, stage: 0 | 3, sources: Record<string, [number, number][]> | null) {
  const perRank: { calls: number; ids: number[]; sums: number[] }[] = [];
  for (let r = 0; r < world; r++) {
    const seen = { calls: 0, ids: [] as number[], sums: [] as number[] };
    const engine: EvalEngine = {
      worldSize: world,
      rankIndex: r,
      stage,
      evalLoss: (b: HostBatch) => {
        seen.calls++;
        let lossSum = 0;
        let count = 0;
        for (let t = 0; t < b.tokens; t++) if (b.targets[t] !== -100) (lossSum += b.targets[t]!), count++;
        for (let s = 0; s < b.rowStarts.length - 1; s++) if (b.rowStarts[s + 1]! - b.rowStarts[s]! > 1) seen.ids.push(b.ids[b.rowStarts[s]!]!);
        return { lossSum, count };
      },
      // each rank's local value; the test sums them across ranks below
      allReduceSum: (x: number) => (seen.sums.push(x), x),
    };
    // a rank whose local sums are all zero reports "no label tokens" (its stub all-reduce is local)
    await new Evaluator(rowsOf(sources), engine, micro).evaluate(1).catch((e: Error) => {
      if (!/no label tokens/.test(e.message)) throw e;
    });
    perRank.push(seen);
  }
  return perRank;
}

describe('Evaluator sharding', () => {
  const sources = { 'a.jsonl': [[0, 4]] as [number, number][], 'b.jsonl': [[4, 11]] as [number, number][] };
  for (const world of [1, 2, 3, 4]) {
    for (const micro of [1, 2, 3]) {
      it(`${world} rank(s), micro ${micro}: every row once; equal forward counts at stage 3; sums give the token mean`, async () => {
        for (const stage of [0, 3] as const) {
          for (const src of [null, sources]) {
            const ranks = await runRanks(world, micro, stage, src);
            expect(ranks.flatMap((r) => r.ids).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
            if (stage === 3) expect(new Set(ranks.map((r) => r.calls)).size).toBe(1);
            // the all-reduce inputs, summed over ranks: (loss, count) per group
            const groups = ranks[0]!.sums.length / 2;
            expect(groups).toBe(src ? 2 : 1);
            const total = (k: number) => ranks.reduce((s, r) => s + r.sums[k]!, 0);
            let loss = 0;
            let count = 0;
            for (let g = 0; g < groups; g++) (loss += total(2 * g)), (count += total(2 * g + 1));
            const want = Array.from({ length: N }, (_, i) => i * (1 + (i % 3))).reduce((a, b) => a + b, 0);
            expect([loss, count]).toEqual([want, Array.from({ length: N }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0)]);
          }
        }
      });
    }
  }

  it('per_source losses are each source\'s token mean; the overall loss weighs them by tokens', async () => {
    const engine: EvalEngine = {
      worldSize: 1, rankIndex: 0, stage: 0,
      evalLoss: (b: HostBatch) => {
        let lossSum = 0;
        let count = 0;
        for (let t = 0; t < b.tokens; t++) if (b.targets[t] !== -100) (lossSum += b.targets[t]!), count++;
        return { lossSum, count };
      },
      allReduceSum: (x: number) => x,
    };
    const rec = await new Evaluator(rowsOf(sources), engine, 2).evaluate(7);
    const mean = (rows: number[]) => rows.reduce((s, i) => s + i * (1 + (i % 3)), 0) / rows.reduce((s, i) => s + 1 + (i % 3), 0);
    const a = [0, 1, 2, 3];
    const b = [4, 5, 6, 7, 8, 9, 10];
    expect(rec.step).toBe(7);
    expect(rec.per_source['a.jsonl']).toBeCloseTo(mean(a), 12);
    expect(rec.per_source['b.jsonl']).toBeCloseTo(mean(b), 12);
    expect(rec.eval_loss).toBeCloseTo(mean([...a, ...b]), 12);
    expect(rec.eval_tokens).toBe([...a, ...b].reduce((s, i) => s + 1 + (i % 3), 0));
  });
});
