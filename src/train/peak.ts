// The device peak for MFU. On CPU: the measured fp32 GEMM rate of this machine through the
// same BLAS the kernels use (a 1024^3 product, best of 3), so MFU says how close the whole
// step gets to what the matrix unit can actually do here.
import { linearForward } from '../native/kernels.js';
import { DType, MemCategory, alloc } from '../native/tensor.js';

export function measurePeakFlops(n = 1024): number {
  const x = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const w = alloc(DType.F32, [n, n], MemCategory.Buffers);
  const y = alloc(DType.F32, [n, n], MemCategory.Buffers);
  try {
    linearForward(y, x, w, null);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      linearForward(y, x, w, null);
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return (2 * n ** 3) / best;
  } finally {
    x.free();
    w.free();
    y.free();
  }
}
