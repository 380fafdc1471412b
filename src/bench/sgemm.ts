// The sgemm yardstick of bench:core and bench:train: the best of 5 fp32 2048^3 products on the
// CPU backend's linear (OpenBLAS sgemm, one call), in FLOP/s, on the current thread count.
import { cpuBackend } from '../native/cpu_backend.js';
import { DType, MemCategory, alloc } from '../native/tensor.js';

export function measureSgemm(): number {
  const n = 2048;
  const x = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const w = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const y = alloc(DType.F32, [n, n], MemCategory.Buffers);
  cpuBackend.linearForward(y, x, w, null);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    cpuBackend.linearForward(y, x, w, null);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  x.free();
  w.free();
  y.free();
  return (2 * n ** 3) / best;
}
