// The device peak for MFU: the measured GEMM rate of this machine through the same backend
// the model uses (CPU: OpenBLAS fp32, a 1024^3 product; CUDA: cuBLAS in the training dtype,
// a 4096^3 product), best of 3, so MFU says how close the whole step gets to what the matrix
// unit actually delivers here.
import type { Backend } from '../native/backend.js';
import { DType, MemCategory, alloc } from '../native/tensor.js';

export function measurePeakFlops(be: Backend, dtype: DType = DType.F32, n = be.device === 'cuda' ? 4096 : 1024): number {
  const x = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  const w = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  const y = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  try {
    be.linearForward(y, x, w, null);
    be.synchronize();
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      be.linearForward(y, x, w, null);
      be.synchronize();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return (2 * n ** 3) / best;
  } finally {
    x.free();
    w.free();
    y.free();
  }
}
