// Bytes the model and optimizer will allocate, by category, computed from the architecture
// alone (for --dry-run on machines that could not hold the model). A test checks these
// numbers against the allocator after building the real thing.
import { DType, dtypeSize } from '../native/tensor.js';
import { buildParamTable } from './params.js';
import type { ModelSpec } from './spec.js';

export interface MemoryPlan {
  params: number;
  grads: number;
  master: number;
  optim: number;
  activations: number;
}

/** Bytes of an allocation as the native allocator rounds it (64-byte granules). */
function rounded(bytes: number): number {
  return Math.max(64, Math.ceil(bytes / 64) * 64);
}

export function activationBytes(spec: ModelSpec, dtype: DType, capacity: number, logitsChunk: number, recompute: boolean): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V, nLayers: L } = spec;
  const T = capacity;
  const a = (n: number) => rounded(n * dtypeSize[dtype]);
  const f32 = (n: number) => rounded(n * 4);
  const qkv = (nh + 2 * nkv) * D;
  const block = a(T * H) + f32(T) + a(T * qkv) + a(T * nh * D) + f32(nh * T) + a(T * H) + a(T * H) + f32(T) + a(T * 2 * F);
  const resid = (L + 1) * a(T * H);
  const blocks = (recompute ? 1 : L) * block;
  const work =
    a(T * H) + a(T * F) + a(T * H) + a(T * H) + a(T * 2 * F) + a(T * F) + a(T * nh * D) + a(T * qkv) + a(T * H) + f32(T) + a(T * H) + a(T * H) + a(Math.min(logitsChunk, T) * V);
  return resid + blocks + work;
}

/** Single-process plan (ZeRO at world size 1). */
export function memoryPlan(spec: ModelSpec, dtype: DType, gradDtype: DType, capacity: number, recompute: boolean, logitsChunk = 1024): MemoryPlan {
  const total = buildParamTable(spec).total;
  return {
    params: rounded(total * dtypeSize[dtype]),
    grads: rounded(total * dtypeSize[gradDtype]),
    master: dtype === DType.F32 ? 0 : rounded(total * 4),
    optim: 2 * rounded(total * 4),
    activations: activationBytes(spec, dtype, capacity, logitsChunk, recompute),
  };
}
