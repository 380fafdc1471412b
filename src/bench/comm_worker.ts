// One rank of bench:comm (ours): times allReduce, reduceScatter, allGather and broadcast (from
// rank 0) of fp32 buffers
// and prints one JSON line per (op, size) from rank 0. Started by telechat-launch. Besides the
// time, rank 0 reports its process's minor page faults and CPU time (user + system, all threads)
// per timed iteration, barriers included: fresh pages on every call once made allReduce 1.5x
// slower than torch, and the fault count shows that where timings on a shared machine cannot.
import { addon } from '../native/addon.js';
import { CommDType, initDistributed, type CommBuffer } from '../distributed/index.js';

const sizesMb = (process.argv[2] ?? '1,4,16,64,256').split(',').map(Number);
const pg = initDistributed();
const { rank, size: W } = pg.world;
const world = pg.world;

function buffer(numel: number): CommBuffer {
  const ptr = addon.alloc(numel * 4, 5);
  addon.copyIn(ptr, new Float32Array(Math.min(numel, 1 << 20)).fill(rank + 1)); // touch the first pages
  return { ptr, numel, dtype: CommDType.F32 };
}

for (const mb of sizesMb) {
  const n = Math.floor((mb * 2 ** 20) / 4 / W) * W; // full buffer, a multiple of W elements
  const full = buffer(n);
  const chunk = buffer(n / W);
  const gathered = buffer(n);
  const iters = mb >= 64 ? 3 : mb >= 16 ? 5 : 10;
  const ops: [string, () => void][] = [
    ['allReduce', () => world.allReduce(full, 'sum')],
    ['reduceScatter', () => world.reduceScatter(full, chunk, 'sum')],
    ['allGather', () => world.allGather(chunk, gathered)],
    ['broadcast', () => world.broadcast(full, 0)],
  ];
  for (const [op, fn] of ops) {
    fn(); // warm-up
    // Best of `iters`, each bracketed by barriers: the machine is shared, so the minimum is the
    // least noisy estimate (the torch side is timed the same way).
    let seconds = Infinity;
    const before = process.resourceUsage();
    for (let i = 0; i < iters; i++) {
      world.barrier();
      const t0 = process.hrtime.bigint();
      fn();
      world.barrier();
      seconds = Math.min(seconds, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const after = process.resourceUsage();
    const minflt = (after.minorPageFault - before.minorPageFault) / iters;
    const cpuMs = (after.userCPUTime - before.userCPUTime + after.systemCPUTime - before.systemCPUTime) / 1e3 / iters;
    if (rank === 0) console.log(JSON.stringify({ side: 'ours', op, ran: op, threads: Number(process.env.OMP_NUM_THREADS ?? 1), ranks: W, mb, bytes: n * 4, iters, seconds, minflt, cpu_ms: cpuMs }));
  }
  for (const b of [full, chunk, gathered]) addon.free(b.ptr);
}
pg.destroy();
