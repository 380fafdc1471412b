// The sgemm yardstick of bench:core and bench:train: the best of 5 fp32 2048^3 products on the
// CPU backend's linear (OpenBLAS sgemm, one call), in FLOP/s, on the current thread count.
import { cpuBackend } from '../native/cpu_backend.js';
import { cpuBlasCore } from '../native/kernels.js';
import { DType, MemCategory, alloc } from '../native/tensor.js';

export function measureSgemm(): number {
  const n = 2048;
  const x = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const w = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const y = alloc(DType.F32, [n, n], MemCategory.Buffers);
  cpuBackend.linearForward(y, x, w, null, false);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    cpuBackend.linearForward(y, x, w, null, false);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  x.free();
  w.free();
  y.free();
  return (2 * n ** 3) / best;
}

/**
 * The OpenBLAS kernels this process's fp32 linear products run on, for a bench result: the core
 * name, the library's build configuration, and the OPENBLAS_CORETYPE that forced it (null: OpenBLAS
 * chose). Child processes inherit the environment, so they run on the same kernels.
 */
export function blasRecord(): { core: string; config: string; forced_by_env: string | null } {
  const { core, config } = cpuBlasCore();
  // an empty value forces nothing: OpenBLAS chooses
  return { core, config, forced_by_env: process.env.OPENBLAS_CORETYPE || null };
}
