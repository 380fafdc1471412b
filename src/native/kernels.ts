// Typed CPU kernels over Tensors: each wrapper checks dtypes, shapes and index ranges, throws
// one clear error naming the kernel and the argument at fault, then calls the addon
// (native/src/cpu/ops.h has the exact semantics). Sizes (T, C, In, Out, V, F) come from the
// tensor shapes; "matrix" arguments may have any number of leading dims (rows = their product).
// Parameter gradients (dw, db, dtable) are accumulated (+=) in their own dtype.
import { addon } from './addon.js';
import { fail, firstOutside, floatDtype } from './checks.js';
import type { AdamwScalars, AdamwTensors } from './backend.js';
import {
  adamwArgs, addArgs, castArgs, crossEntropyArgs, dropoutArgs, type DropoutMask, embeddingBackwardArgs, embeddingForwardArgs, linearBackwardArgs, linearForwardArgs, loraBackwardArgs, loraForwardArgs,
  rmsnormBackwardArgs, rmsnormForwardArgs, ropeArgs, swigluBackwardArgs, swigluForwardArgs, type RopeHeads,
} from './op_args.js';
import type { Tensor } from './tensor.js';

/** Sets x to zero. */
export function fillZero(x: Tensor): void {
  addon.fillZero(x.ptr, x.numel, floatDtype('fillZero', 'x', x));
}

/** dst = src converted to dst's dtype (bf16/fp16 rounded to nearest even, fp16 overflow to +-inf). */
export function cast(dst: Tensor, src: Tensor): void {
  const a = castArgs(dst, src);
  addon.cast(dst.ptr, a.dstDt, src.ptr, a.srcDt, a.n);
}

/** y = a + b elementwise (y may alias a or b). */
export function add(y: Tensor, a: Tensor, b: Tensor): void {
  const x = addArgs(y, a, b);
  addon.add(y.ptr, a.ptr, b.ptr, x.n, x.dt);
}

/** x *= s in place. */
export function scaleInplace(x: Tensor, s: number): void {
  addon.scaleInplace(x.ptr, s, x.numel, floatDtype('scaleInplace', 'x', x));
}

/** Sum of squares of x, accumulated in fp64 (deterministic for any thread count). */
export function sumSquares(x: Tensor): number {
  return addon.sumSquares(x.ptr, x.numel, floatDtype('sumSquares', 'x', x));
}

/** true when x holds any inf or NaN (fp16 loss scaling: an overflowed step is skipped). */
export function hasNonfinite(x: Tensor): boolean {
  return addon.hasNonfinite(x.ptr, x.numel, floatDtype('hasNonfinite', 'x', x));
}


/** out[t] = table[ids[t]]; out [T, C], ids int32 [T], table [V, C]. Throws on an id outside [0, V). */
export function embeddingForward(out: Tensor, ids: Tensor, table: Tensor): void {
  const a = embeddingForwardArgs(out, ids, table);
  const bad = addon.embeddingForward(out.ptr, ids.ptr, table.ptr, a.T, a.C, a.V, a.dt);
  if (bad >= 0) fail(a.op, `token id ${ids.view(bad, [1]).toInt32()[0]} at position ${bad} is outside the vocabulary [0, ${a.V})`);
}

/** dtable[ids[t]] += dout[t]; dtable [V, C] (grad dtype), dout [T, C]. Deterministic. */
export function embeddingBackward(dtable: Tensor, ids: Tensor, dout: Tensor): void {
  const a = embeddingBackwardArgs(dtable, ids, dout);
  const bad = firstOutside(ids, 0, a.V);
  if (bad) fail(a.op, `token id ${bad[1]} at position ${bad[0]} is outside the vocabulary [0, ${a.V})`);
  addon.embeddingBackward(dtable.ptr, ids.ptr, dout.ptr, a.T, a.C, a.dt, a.gdt);
}

/** y = w * x / rms(x); y, x [T, C], w [C], rstd fp32 [T] receives 1/rms for backward. */
export function rmsnormForward(y: Tensor, rstd: Tensor, x: Tensor, w: Tensor, eps: number): void {
  const a = rmsnormForwardArgs(y, rstd, x, w);
  addon.rmsnormForward(y.ptr, rstd.ptr, x.ptr, w.ptr, a.T, a.C, eps, a.dt);
}

/** dx += dL/dx and dw += dL/dw of rmsnormForward; dw in the grad dtype. */
export function rmsnormBackward(dx: Tensor, dw: Tensor, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): void {
  const a = rmsnormBackwardArgs(dx, dw, dy, x, w, rstd);
  addon.rmsnormBackward(dx.ptr, dw.ptr, dy.ptr, x.ptr, w.ptr, rstd.ptr, a.T, a.C, a.dt, a.gdt);
}

/**
 * What bf16 linear products run on now: "onednn <implementation> (<isa>)" on CPUs with
 * AVX512-BF16 or AMX, else "fallback: <why>" (widened to fp32 for OpenBLAS sgemm).
 * TELECHAT_CPU_BF16_GEMM=fallback forces the fallback (read on every product).
 */
export function cpuBf16GemmPath(): string {
  return addon.cpuBf16GemmPath();
}

/**
 * What attention tiles run on now, for head dims that are multiples of 16: fp32 on the vfmadd
 * kernel (AVX-512, or AVX2 with FMA), bf16 on vdpbf16ps (AVX512-BF16) or else widened to fp32 on
 * vfmadd, fp16 widened to fp32 on vfmadd; on a CPU with neither kernel "sgemm: <why>" (tiles
 * widened to fp32 for OpenBLAS). TELECHAT_CPU_ATTN_TILES=sgemm forces sgemm.
 */
export function cpuAttentionTilePath(): string {
  return addon.cpuAttentionTilePath();
}

/**
 * What LoRA adapter products (loraForward, loraBackward) run on now: register tiles (AVX-512, or
 * AVX2 with FMA) for fp32 (vfmadd) and bf16 (vdpbf16ps on AVX512-BF16, else widened to fp32 on
 * vfmadd) storage with R, In and Out multiples of 16, fp32 gradients
 * and 8 x R x (In + Out) fp32 partials within 16 MiB, else "library GEMMs: <why>" (OpenBLAS
 * sgemm, oneDNN). TELECHAT_CPU_LORA_TILES=gemm forces the library GEMMs.
 */
export function cpuLoraTilePath(): string {
  return addon.cpuLoraTilePath();
}

/**
 * The OpenBLAS kernels fp32 products (linear, and the sgemm fallbacks of attention and LoRA) run
 * on: OpenBLAS's core name ("Cooperlake", "Haswell", ...: its own choice for the CPU, or what
 * OPENBLAS_CORETYPE forces, read once when the library loads) and its build configuration string.
 */
export function cpuBlasCore(): { core: string; config: string } {
  return addon.cpuBlasCore();
}

/**
 * y = x w^T (+ b) (y += ... when accumulate); y [T, Out], x [T, In], w [Out, In] (nn.Linear layout),
 * b [Out] or null.
 */
export function linearForward(y: Tensor, x: Tensor, w: Tensor, b: Tensor | null, accumulate = false): void {
  const a = linearForwardArgs(y, x, w, b);
  addon.linearForward(y.ptr, x.ptr, w.ptr, b ? b.ptr : null, a.T, a.In, a.Out, a.dt, accumulate);
}

/**
 * Backward of linearForward: dx = dy w (dx += ... when accumulateDx), dw += dy^T x,
 * db += column sums of dy; dx, dw (a frozen weight: no dW GEMM) and db may be null; dw and db in the grad dtype.
 */
export function linearBackward(dx: Tensor | null, dw: Tensor | null, db: Tensor | null, dy: Tensor, x: Tensor, w: Tensor,
  accumulateDx = false): void {
  const a = linearBackwardArgs(dx, dw, db, dy, x, w);
  addon.linearBackward(dx ? dx.ptr : null, dw ? dw.ptr : null, db ? db.ptr : null, dy.ptr, x.ptr, w.ptr, a.T, a.In, a.Out, a.dt, a.gdt,
    accumulateDx);
}

/**
 * LoRA adapter on columns [col0, col0 + Out) of y [T, width]: u = scale x a^T, y[:, window] = u b^T
 * (+= when accumulate; y null: u alone, the same values).
 */
export function loraForward(y: Tensor | null, u: Tensor, x: Tensor, a: Tensor, b: Tensor, col0: number, scale: number,
  accumulate: boolean): void {
  const s = loraForwardArgs(y, u, x, a, b, col0);
  addon.loraForward(y ? y.ptr : null, u.ptr, x.ptr, a.ptr, b.ptr, s.T, s.In, s.R, s.Out, s.width, col0, scale, s.dt, accumulate);
}

/** Backward of loraForward: gb += dy_win^T u, ga += (scale dy_win b)^T x, dx = scale dy_win b a (+= when accumulateDx; null: not wanted). */
export function loraBackward(dx: Tensor | null, ga: Tensor, gb: Tensor, dy: Tensor, x: Tensor, u: Tensor, a: Tensor, b: Tensor,
  col0: number, scale: number, accumulateDx: boolean): void {
  const s = loraBackwardArgs(dx, ga, gb, dy, x, u, a, b, col0);
  addon.loraBackward(dx ? dx.ptr : null, ga.ptr, gb.ptr, dy.ptr, x.ptr, u.ptr, a.ptr, b.ptr, s.T, s.In, s.R, s.Out, s.width, col0, scale,
    s.dt, s.gdt, accumulateDx);
}

export type { RopeHeads } from './op_args.js';

/** In-place NeoX rotate_half rope on x [T, W]; pos int32 [T]; cos, sin fp32 [maxPos, D/2]. */
export function ropeForward(x: Tensor, pos: Tensor, cos: Tensor, sin: Tensor, heads: RopeHeads): void {
  const a = ropeArgs('ropeForward', x, pos, cos, sin, heads);
  addon.ropeForward(x.view(a.colOffset, [x.numel - a.colOffset]).ptr, pos.ptr, cos.ptr, sin.ptr, a.T, a.nHeads, a.D, a.W, a.dt);
}

/** In-place gradient of ropeForward (rotation by the negative angle) on dx [T, W]. */
export function ropeBackward(dx: Tensor, pos: Tensor, cos: Tensor, sin: Tensor, heads: RopeHeads): void {
  const a = ropeArgs('ropeBackward', dx, pos, cos, sin, heads);
  addon.ropeBackward(dx.view(a.colOffset, [dx.numel - a.colOffset]).ptr, pos.ptr, cos.ptr, sin.ptr, a.T, a.nHeads, a.D, a.W, a.dt);
}

/** h = silu(gate) * up with gu [T, 2F] rows = [gate | up], h [T, F]. */
export function swigluForward(h: Tensor, gu: Tensor): void {
  const a = swigluForwardArgs(h, gu);
  addon.swigluForward(h.ptr, gu.ptr, a.T, a.F, a.dt);
}

/** dgu [T, 2F] (overwritten) from dh [T, F], recomputing silu from gu. */
export function swigluBackward(dgu: Tensor, dh: Tensor, gu: Tensor): void {
  const a = swigluBackwardArgs(dgu, dh, gu);
  addon.swigluBackward(dgu.ptr, dh.ptr, gu.ptr, a.T, a.F, a.dt);
}

export type { DropoutMask } from './op_args.js';

/** out = resid + mask * h / (1 - p), [T, C] (out may alias resid or h); the mask is native/src/dropout_hash.h's. */
export function dropoutAddForward(out: Tensor, resid: Tensor, h: Tensor, mask: DropoutMask): void {
  const a = dropoutArgs('dropoutAddForward', [['out', out], ['resid', resid], ['h', h]], mask);
  addon.dropoutAddForward(out.ptr, resid.ptr, h.ptr, mask.tokens.ptr, a.keyHi, a.keyLo, a.threshold, a.scale, a.T, a.C, a.dt);
}

/** dh = mask * dy / (1 - p) (the same mask as the forward; dh may alias dy). */
export function dropoutBackward(dh: Tensor, dy: Tensor, mask: DropoutMask): void {
  const a = dropoutArgs('dropoutBackward', [['dh', dh], ['dy', dy]], mask);
  addon.dropoutBackward(dh.ptr, dy.ptr, mask.tokens.ptr, a.keyHi, a.keyLo, a.threshold, a.scale, a.T, a.C, a.dt);
}

export interface CrossEntropyOptions {
  /** Multiplier applied to the logits before softmax (muP output scaling); default 1. */
  logitScale?: number;
  /** Multiplier of the gradient written over the logits (e.g. 1 / loss tokens); default 1. */
  gradScale?: number;
  /** Overwrite logits with grad_scale * d(loss sum)/d(logits); default true. */
  writeGrad?: boolean;
}

export const IGNORE_INDEX = -100;

/**
 * Fused softmax cross-entropy over logits [T, V] with int32 targets [T] (-100 = ignored):
 * returns the fp64 loss sum and the number of counted rows; optionally writes the gradient in place.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: CrossEntropyOptions = {}):
  { lossSum: number; count: number } {
  const a = crossEntropyArgs(logits, targets);
  const [lossSum, count, bad] = addon.crossEntropy(logits.ptr, targets.ptr, a.T, a.V, opts.logitScale ?? 1,
    opts.gradScale ?? 1, opts.writeGrad ?? true, a.dt);
  if (bad >= 0) {
    const target = targets.view(bad, [1]).toInt32()[0];
    fail(a.op, `target ${target} at row ${bad} is outside the vocabulary [0, ${a.V}) and is not ${IGNORE_INDEX}`);
  }
  return { lossSum, count };
}

/** One AdamW update over equal-length tensors (native/src/cpu/adamw.cc; torch.optim.AdamW arithmetic). */
export function adamw(t: AdamwTensors, s: AdamwScalars): void {
  const a = adamwArgs(t);
  addon.adamwStep(t.master.ptr, t.paramCopy ? t.paramCopy.ptr : null, a.pdt, t.grad.ptr, a.gdt, t.expAvg.ptr, t.expAvgSq.ptr, a.n,
    s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, s.step, s.gradScale, s.adamWMode);
}
