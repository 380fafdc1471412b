// One rank of the ring allReduce test, started by telechat-launch. Lengths are picked so that a
// chunk spans several 1 MiB segments with a short last one, chunks are uneven, and the reused
// scratch both grows and shrinks between calls. Inputs are small integers, so every fp32 and
// int32 sum is exact and any misplaced or missing segment shows as a wrong value.
import { initDistributed, CommDType } from '../../../dist/dist/index.js';
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
      let want = op === 'max' ? -Infinity : 0;
      for (let r = 0; r < W; r++) want = op === 'max' ? Math.max(want, value(r, i)) : want + value(r, i);
      if (got[i] !== want) throw new Error(`rank ${rank}: allReduce ${op} n=${n} [${i}] = ${got[i]}, expected ${want}`);
      checks++;
    }
  }
}
pg.world.barrier();
console.log(`STATS ${JSON.stringify({ rank, world: W, checks })}`);
pg.destroy();
