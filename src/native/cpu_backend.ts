// The CPU backend: native/src/cpu kernels (OpenBLAS + OpenMP). Sizes are read off the
// tensor shapes and checked here, so a wrong call fails with a message, not a crash.
import { addon } from './addon.js';
import type { AttentionShape, Backend } from './backend.js';
import { INT32, type Tensor } from './tensor.js';

function fail(op: string, msg: string): never {
  throw new Error(`${op}: ${msg}`);
}

function rowsCols(t: Tensor, op: string, name: string): [number, number] {
  if (t.shape.length !== 2) fail(op, `${name} must be 2-D, got [${t.shape}]`);
  return [t.shape[0]!, t.shape[1]!];
}

function sameDtype(op: string, ...ts: Tensor[]): number {
  const dt = ts[0]!.dtype;
  for (const t of ts) if (t.dtype !== dt) fail(op, 'tensors must share one storage dtype');
  return dt;
}

function int32(t: Tensor, op: string, name: string, n?: number): void {
  if (t.type !== INT32) fail(op, `${name} must be int32`);
  if (n !== undefined && t.numel !== n) fail(op, `${name} has ${t.numel} elements, expected ${n}`);
}

function f32(t: Tensor, op: string, name: string, n: number): void {
  if (t.type !== 0) fail(op, `${name} must be fp32`);
  if (t.numel !== n) fail(op, `${name} has ${t.numel} elements, expected ${n}`);
}

export const cpuBackend: Backend = {
  name: 'cpu',

  zero(x) {
    addon.fillZero(x.ptr, x.numel, x.dtype);
  },

  copy(dst, src) {
    if (dst.bytes !== src.bytes || dst.type !== src.type) fail('copy', `size or type mismatch ([${dst.shape}] vs [${src.shape}])`);
    addon.copy(dst.ptr, src.ptr, dst.bytes);
  },

  add(y, a, b) {
    const dt = sameDtype('add', y, a, b);
    if (a.numel !== y.numel || b.numel !== y.numel) fail('add', `sizes ${y.numel}, ${a.numel}, ${b.numel} differ`);
    addon.add(y.ptr, a.ptr, b.ptr, y.numel, dt);
  },

  scale(x, s) {
    addon.scaleInplace(x.ptr, s, x.numel, x.dtype);
  },

  embeddingForward(out, ids, table) {
    const [T, C] = rowsCols(out, 'embedding', 'out');
    const [V, C2] = rowsCols(table, 'embedding', 'table');
    if (C !== C2) fail('embedding', `width ${C} vs table width ${C2}`);
    int32(ids, 'embedding', 'ids', T);
    const bad = addon.embeddingForward(out.ptr, ids.ptr, table.ptr, T, C, V, sameDtype('embedding', out, table));
    if (bad >= 0) fail('embedding', `token id ${ids.toInt32()[bad]} at position ${bad} is outside the vocabulary [0, ${V})`);
  },

  embeddingBackward(dtable, ids, dout) {
    const [T, C] = rowsCols(dout, 'embedding backward', 'dout');
    int32(ids, 'embedding backward', 'ids', T);
    addon.embeddingBackward(dtable.ptr, ids.ptr, dout.ptr, T, C, dout.dtype, dtable.dtype);
  },

  rmsnormForward(y, rstd, x, w, eps) {
    const [T, C] = rowsCols(x, 'rmsnorm', 'x');
    if (y.numel !== T * C || w.numel !== C) fail('rmsnorm', 'shape mismatch');
    f32(rstd, 'rmsnorm', 'rstd', T);
    addon.rmsnormForward(y.ptr, rstd.ptr, x.ptr, w.ptr, T, C, eps, sameDtype('rmsnorm', y, x, w));
  },

  rmsnormBackward(dx, dw, dy, x, w, rstd) {
    const [T, C] = rowsCols(x, 'rmsnorm backward', 'x');
    if (dx.numel !== T * C || dy.numel !== T * C || w.numel !== C || dw.numel !== C) fail('rmsnorm backward', 'shape mismatch');
    f32(rstd, 'rmsnorm backward', 'rstd', T);
    addon.rmsnormBackward(dx.ptr, dw.ptr, dy.ptr, x.ptr, w.ptr, rstd.ptr, T, C, sameDtype('rmsnorm backward', dx, dy, x, w), dw.dtype);
  },

  linearForward(y, x, w, b) {
    const [T, In] = rowsCols(x, 'linear', 'x');
    const [Out, In2] = rowsCols(w, 'linear', 'w');
    if (In !== In2) fail('linear', `x is [${T}, ${In}] but w is [${Out}, ${In2}]`);
    if (y.numel !== T * Out) fail('linear', `y has ${y.numel} elements, expected ${T}x${Out}`);
    if (b && b.numel !== Out) fail('linear', `bias has ${b.numel} elements, expected ${Out}`);
    addon.linearForward(y.ptr, x.ptr, w.ptr, b ? b.ptr : null, T, In, Out, sameDtype('linear', y, x, w, ...(b ? [b] : [])));
  },

  linearBackward(dx, dw, db, dy, x, w, accumulateDx) {
    const [T, In] = rowsCols(x, 'linear backward', 'x');
    const [Out, In2] = rowsCols(w, 'linear backward', 'w');
    if (In !== In2 || dy.numel !== T * Out || dw.numel !== Out * In) fail('linear backward', 'shape mismatch');
    if (dx && dx.numel !== T * In) fail('linear backward', 'dx shape mismatch');
    if (db && db.numel !== Out) fail('linear backward', 'db shape mismatch');
    const dt = sameDtype('linear backward', dy, x, w, ...(dx ? [dx] : []));
    addon.linearBackward(dx ? dx.ptr : null, dw.ptr, db ? db.ptr : null, dy.ptr, x.ptr, w.ptr, T, In, Out, dt, dw.dtype, accumulateDx);
  },

  ropeForward(x, positions, cos, sin, nHeads, headDim) {
    const [T, stride] = rowsCols(x, 'rope', 'x');
    int32(positions, 'rope', 'positions', T);
    if (nHeads * headDim > stride) fail('rope', `${nHeads} heads of ${headDim} exceed the row width ${stride}`);
    if (cos.numel !== sin.numel || cos.numel % (headDim / 2) !== 0) fail('rope', 'bad cos/sin tables');
    addon.ropeForward(x.ptr, positions.ptr, cos.ptr, sin.ptr, T, nHeads, headDim, stride, x.dtype);
  },

  ropeBackward(dx, positions, cos, sin, nHeads, headDim) {
    const [T, stride] = rowsCols(dx, 'rope backward', 'dx');
    int32(positions, 'rope backward', 'positions', T);
    addon.ropeBackward(dx.ptr, positions.ptr, cos.ptr, sin.ptr, T, nHeads, headDim, stride, dx.dtype);
  },

  attentionForward(out, lse, qkv, cuSeqlens, s: AttentionShape) {
    const [T, width] = rowsCols(qkv, 'attention', 'qkv');
    if (width !== (s.nHeads + 2 * s.nKvHeads) * s.headDim) fail('attention', `qkv width ${width} does not match the heads`);
    if (out.numel !== T * s.nHeads * s.headDim) fail('attention', 'out shape mismatch');
    f32(lse, 'attention', 'lse', s.nHeads * T);
    int32(cuSeqlens, 'attention', 'cu_seqlens');
    addon.attentionForward(out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, cuSeqlens.numel - 1, T, s.nHeads, s.nKvHeads, s.headDim, s.scale, sameDtype('attention', out, qkv));
  },

  attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, s: AttentionShape) {
    const [T] = rowsCols(qkv, 'attention backward', 'qkv');
    if (dqkv.numel !== qkv.numel || dout.numel !== out.numel) fail('attention backward', 'shape mismatch');
    f32(lse, 'attention backward', 'lse', s.nHeads * T);
    addon.attentionBackward(dqkv.ptr, dout.ptr, out.ptr, lse.ptr, qkv.ptr, cuSeqlens.ptr, cuSeqlens.numel - 1, T, s.nHeads, s.nKvHeads, s.headDim, s.scale, sameDtype('attention backward', dqkv, dout, out, qkv));
  },

  swigluForward(h, gu) {
    const [T, F2] = rowsCols(gu, 'swiglu', 'gu');
    if (h.numel !== (T * F2) / 2) fail('swiglu', 'shape mismatch');
    addon.swigluForward(h.ptr, gu.ptr, T, F2 / 2, sameDtype('swiglu', h, gu));
  },

  swigluBackward(dgu, dh, gu) {
    const [T, F2] = rowsCols(gu, 'swiglu backward', 'gu');
    if (dgu.numel !== gu.numel || dh.numel !== (T * F2) / 2) fail('swiglu backward', 'shape mismatch');
    addon.swigluBackward(dgu.ptr, dh.ptr, gu.ptr, T, F2 / 2, sameDtype('swiglu backward', dgu, dh, gu));
  },

  crossEntropy(logits, targets, logitScale, gradScale, writeGrad) {
    const [T, V] = rowsCols(logits, 'cross-entropy', 'logits');
    int32(targets, 'cross-entropy', 'targets', T);
    const [lossSum, count, bad] = addon.crossEntropy(logits.ptr, targets.ptr, T, V, logitScale, gradScale, writeGrad, logits.dtype);
    if (bad >= 0) fail('cross-entropy', `target ${targets.toInt32()[bad]} at row ${bad} is outside the vocabulary [0, ${V})`);
    return { lossSum, count };
  },
};
