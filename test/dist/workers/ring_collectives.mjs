// One rank of the ring collectives test (our allReduce and reduceScatter rings), started by
// telechat-launch. Lengths are picked so that a chunk spans several 1 MiB segments with a short
// last one, chunks are uneven (allReduce), and the reused scratch both grows and shrinks between
// calls. Inputs are small integers, so every fp32 and int32 sum is exact and any misplaced,
// missing or overwritten segment shows as a wrong value.
import { initDistributed, CommDType } from '../../../dist/distributed/index.js';
import { addon } from '../../../dist/native/addon.js';

const pg = initDistributed({ timeoutMs: 60_000 });
const { rank, size: W } = pg.world;
const LENGTHS = (process.env.TEST_LENGTHS ?? '2621441,5,1000003,2621441').split(',').map(Number);

// Rank r's value at index i: an integer in [-1000, 1000], the same formula on every rank.
function value(r, i) {
  let h = Math.imul(r + 1, 0x9e3779b1) ^ Math.imul(i + 3, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return ((h ^ (h >>> 13)) >>> 0) % 2001 - 1000;
}

function expected(op, i) {
  let want = op === 'max' ? -Infinity : 0;
  for (let r = 0; r < W; r++) want = op === 'max' ? Math.max(want, value(r, i)) : want + value(r, i);
  return want;
}

let checks = 0;
for (const n of LENGTHS) {
  for (const [dt, op, Arr] of [[CommDType.F32, 'sum', Float32Array], [CommDType.I32, 'sum', Int32Array],
    [CommDType.F32, 'max', Float32Array]]) {
    const mine = new Arr(n);
    for (let i = 0; i < n; i++) mine[i] = value(rank, i);
    const ptr = addon.alloc(n * 4, 5);
    addon.copyIn(ptr, mine);
    pg.world.allReduce({ ptr, numel: n, dtype: dt }, op);
    const got = new Arr(n);
    addon.copyOut(ptr, got);
    addon.free(ptr);
    for (let i = 0; i < n; i++) {
      if (got[i] !== expected(op, i)) throw new Error(`rank ${rank}: allReduce ${op} n=${n} [${i}] = ${got[i]}, expected ${expected(op, i)}`);
      checks++;
    }

    // reduceScatter of W chunks of n elements each: this rank gets chunk `rank`, reduced
    const all = new Arr(n * W);
    for (let i = 0; i < n * W; i++) all[i] = value(rank, i);
    const inPtr = addon.alloc(n * W * 4, 5);
    const outPtr = addon.alloc(n * 4, 5);
    addon.copyIn(inPtr, all);
    pg.world.reduceScatter({ ptr: inPtr, numel: n * W, dtype: dt }, { ptr: outPtr, numel: n, dtype: dt }, op);
    const part = new Arr(n);
    addon.copyOut(outPtr, part);
    addon.free(inPtr);
    addon.free(outPtr);
    for (let i = 0; i < n; i++) {
      const want = expected(op, rank * n + i);
      if (part[i] !== want) throw new Error(`rank ${rank}: reduceScatter ${op} n=${n} [${i}] = ${part[i]}, expected ${want}`);
      checks++;
    }
  }
}
pg.world.barrier();
console.log(`STATS ${JSON.stringify({ rank, world: W, checks })}`);
pg.destroy();
