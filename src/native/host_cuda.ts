// A stand-in for the CUDA runtime over host memory, for running the whole device code path -
// 'cuda' tensors, the cuda backend and its checks, the ZeRO engine on device buffers, the
// trainer with --device cuda - where no GPU exists (install it with useCudaFunctions). The
// real kernels are proven on a GPU (scripts/device/check_cuda.sh); this proves the wiring.
//
// "Device" addresses are host addresses with bit 47 set: non-canonical on x86-64, so any
// code that hands a device pointer to a CPU kernel or reads it directly crashes instead of
// silently working. Each function translates its pointers back and runs the CPU kernel of
// the same name; memory is accounted per category separately from the host's, each allocation
// rounded as the real caching pool rounds it.
import { addon, type Address, type CudaFunctions, type CudaMemStatsRaw } from './addon.js';
import { allocatedBytes } from './alloc_size.js';
import { CUDA_ATTENTION_HEAD_DIMS } from './cuda_backend.js';
import { DType } from './tensor.js';

const DEVICE_BIT = 2 ** 47;
const CATEGORIES = ['params', 'grads', 'master', 'optim', 'activations', 'buffers', 'scratch'] as const;
/** Host category the stand-in's memory is counted under on the host side. */
const HOST_CATEGORY = 6;

export interface HostCuda extends CudaFunctions {
  /** The host address behind a stand-in device address (throws for anything else). */
  hostAddress(ptr: Address): Address;
  /** Calls per function name since creation (which ops ran "on the device"). */
  readonly calls: Map<string, number>;
}

export function hostCudaFunctions(): HostCuda {
  const live = new Map<Address, { bytes: number; category: number }>();
  const current = new Array<number>(CATEGORIES.length).fill(0);
  const peak = new Array<number>(CATEGORIES.length).fill(0);
  const calls = new Map<string, number>();
  const count = (name: string): void => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
  };
  const host = (ptr: Address): Address => {
    if (ptr < DEVICE_BIT) throw new Error(`stand-in CUDA: ${ptr.toString(16)} is not a device address (a host pointer reached a cuda function)`);
    return ptr - DEVICE_BIT;
  };
  const maybe = (ptr: Address | null): Address | null => (ptr === null ? null : host(ptr));
  const stats = (): CudaMemStatsRaw => {
    const cur: Record<string, number> = {};
    const pk: Record<string, number> = {};
    CATEGORIES.forEach((name, c) => {
      cur[name] = current[c]!;
      pk[name] = peak[c]!;
    });
    const total = current.reduce((s, x) => s + x, 0);
    return { current: cur, peak: pk, totalCurrent: total, totalPeak: peak.reduce((s, x) => s + x, 0), reserved: total, cached: 0 };
  };

  const fns: HostCuda = {
    hostAddress: host,
    calls,
    cudaSetDevice: () => count('cudaSetDevice'),
    cudaSynchronize: () => count('cudaSynchronize'),
    cudaAddF32: (y, a, b, n) => addon.add(host(y), host(a), host(b), n, DType.F32),
    cudaAlloc(bytes, category) {
      count('cudaAlloc');
      const ptr = addon.alloc(bytes, HOST_CATEGORY) + DEVICE_BIT;
      const counted = allocatedBytes(bytes, 'cuda');
      live.set(ptr, { bytes: counted, category });
      current[category]! += counted;
      peak[category] = Math.max(peak[category]!, current[category]!);
      return ptr;
    },
    cudaFree(ptr) {
      const block = live.get(ptr);
      if (!block) throw new Error(`stand-in CUDA: free of ${ptr.toString(16)}, which is not a live allocation`);
      live.delete(ptr);
      current[block.category]! -= block.bytes;
      addon.free(host(ptr));
    },
    cudaCopyIn: (ptr, src) => addon.copyIn(host(ptr), src),
    cudaCopyOut: (ptr, dst) => addon.copyOut(host(ptr), dst),
    cudaCopy: (dst, src, bytes) => addon.copy(host(dst), host(src), bytes),
    cudaMemStats: stats,
    cudaMemResetPeaks() {
      for (let c = 0; c < peak.length; c++) peak[c] = current[c]!;
    },
    cudaEmptyCache: () => {},
    cudaFillZero: (x, n, dt) => addon.fillZero(host(x), n, dt),
    cudaCast: (dst, dstDt, src, srcDt, n) => addon.cast(host(dst), dstDt, host(src), srcDt, n),
    cudaAdd: (y, a, b, n, dt) => addon.add(host(y), host(a), host(b), n, dt),
    cudaScaleInplace: (x, s, n, dt) => addon.scaleInplace(host(x), s, n, dt),
    cudaSumSquares: (x, n, dt) => addon.sumSquares(host(x), n, dt),
    cudaEmbeddingForward: (out, ids, table, T, C, V, dt) => addon.embeddingForward(host(out), host(ids), host(table), T, C, V, dt),
    cudaEmbeddingBackward(dtable, ids, dout, T, C, dt, gdt) {
      count('cudaEmbeddingBackward');
      addon.embeddingBackward(host(dtable), host(ids), host(dout), T, C, dt, gdt);
    },
    cudaRmsnormForward: (y, rstd, x, w, T, C, eps, dt) => addon.rmsnormForward(host(y), host(rstd), host(x), host(w), T, C, eps, dt),
    cudaRmsnormBackward: (dx, dw, dy, x, w, rstd, T, C, dt, gdt) =>
      addon.rmsnormBackward(host(dx), host(dw), host(dy), host(x), host(w), host(rstd), T, C, dt, gdt),
    cudaLinearForward(y, x, w, b, T, In, Out, dt, acc) {
      count('cudaLinearForward');
      addon.linearForward(host(y), host(x), host(w), maybe(b), T, In, Out, dt, acc);
    },
    cudaLinearBackward(dx, dw, db, dy, x, w, T, In, Out, dt, gdt, acc) {
      // frozen weights (LoRA's base) come without dw: their dX-only calls are counted apart
      count(dw === null ? 'cudaLinearBackward(frozen)' : 'cudaLinearBackward');
      addon.linearBackward(maybe(dx), maybe(dw), maybe(db), host(dy), host(x), host(w), T, In, Out, dt, gdt, acc);
    },
    cudaLoraForward(y, u, x, a, b, T, In, R, Out, width, col0, scale, dt, acc) {
      count('cudaLoraForward');
      addon.loraForward(maybe(y), host(u), host(x), host(a), host(b), T, In, R, Out, width, col0, scale, dt, acc);
    },
    cudaLoraBackward(dx, ga, gb, dy, x, u, a, b, T, In, R, Out, width, col0, scale, dt, gdt, acc) {
      count('cudaLoraBackward');
      addon.loraBackward(maybe(dx), host(ga), host(gb), host(dy), host(x), host(u), host(a), host(b), T, In, R, Out, width, col0, scale, dt, gdt, acc);
    },
    cudaRopeForward: (x, pos, cos, sin, T, nh, D, stride, dt) => addon.ropeForward(host(x), host(pos), host(cos), host(sin), T, nh, D, stride, dt),
    cudaRopeBackward: (dx, pos, cos, sin, T, nh, D, stride, dt) => addon.ropeBackward(host(dx), host(pos), host(cos), host(sin), T, nh, D, stride, dt),
    cudaSwigluForward: (h, gu, T, F, dt) => addon.swigluForward(host(h), host(gu), T, F, dt),
    cudaSwigluBackward: (dgu, dh, gu, T, F, dt) => addon.swigluBackward(host(dgu), host(dh), host(gu), T, F, dt),
    cudaDropoutAddForward(out, resid, h, tokens, keyHi, keyLo, threshold, scale, T, C, dt) {
      count('cudaDropoutAddForward');
      addon.dropoutAddForward(host(out), host(resid), host(h), host(tokens), keyHi, keyLo, threshold, scale, T, C, dt);
    },
    cudaDropoutBackward(dh, dy, tokens, keyHi, keyLo, threshold, scale, T, C, dt) {
      count('cudaDropoutBackward');
      addon.dropoutBackward(host(dh), host(dy), host(tokens), keyHi, keyLo, threshold, scale, T, C, dt);
    },
    cudaCrossEntropy: (logits, targets, T, V, logitScale, gradScale, writeGrad, dt) =>
      addon.crossEntropy(host(logits), host(targets), T, V, logitScale, gradScale, writeGrad, dt),
    cudaAdamwStep(master, copy, pdt, grad, gdt, m, v, n, lr, b1, b2, eps, wd, step, gradScale, adamWMode) {
      count('cudaAdamwStep');
      addon.adamwStep(host(master), maybe(copy), pdt, host(grad), gdt, host(m), host(v), n, lr, b1, b2, eps, wd, step, gradScale, adamWMode);
    },
    cudaAttentionForward(out, lse, qkv, cu, numDocs, _maxSeqlen, T, nh, nkv, D, scale, causal, dt) {
      if (!causal) throw new Error('stand-in CUDA: the CPU attention kernel is causal only');
      count('cudaAttentionForward');
      addon.attentionForward(host(out), host(lse), host(qkv), host(cu), numDocs, T, nh, nkv, D, scale, dt);
    },
    cudaAttentionBackward(dqkv, dout, out, lse, qkv, cu, numDocs, _maxSeqlen, T, nh, nkv, D, scale, causal, dt) {
      if (!causal) throw new Error('stand-in CUDA: the CPU attention kernel is causal only');
      addon.attentionBackward(host(dqkv), host(dout), host(out), host(lse), host(qkv), host(cu), numDocs, T, nh, nkv, D, scale, dt);
    },
    // the real kernels' head dims, 16-bit only
    cudaAttentionSupported: (D, dt) => CUDA_ATTENTION_HEAD_DIMS.includes(D) && (dt === DType.BF16 || dt === DType.F16),
  };
  return fns;
}
