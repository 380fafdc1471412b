// The sgemm yardstick (sgemm.ts) in a process of its own, for bench:train's measurement under
// OpenBLAS's own kernel choice: OpenBLAS reads OPENBLAS_CORETYPE once, as it loads, so a
// yardstick with a different setting needs a fresh process. Prints one JSON line: GFLOP/s and
// the OpenBLAS core it ran on.
// Usage: node dist/bench/sgemm_worker.js   (threads: OMP_NUM_THREADS, default 2)
import { cpuBlasCore } from '../native/kernels.js';
import { setNumThreads } from '../native/tensor.js';
import { positiveIntEnv } from './env.js';
import { measureSgemm } from './sgemm.js';

setNumThreads(positiveIntEnv('OMP_NUM_THREADS', 2));
process.stdout.write(JSON.stringify({ gflops: measureSgemm() / 1e9, core: cpuBlasCore().core }) + '\n');
