// The CPU backend: native/src/cpu kernels (OpenBLAS + OpenMP) through their checked
// wrappers in kernels.ts and attention.ts. Every tensor must live in host memory. With
// TELECHAT_PROFILE=1 every op is timed (profile.ts); otherwise cpuBackend is the plain object below.
import { addon } from './addon.js';
import { attentionBackward, attentionForward } from './attention.js';
import type { Backend } from './backend.js';
import { expectDevice } from './checks.js';
import * as k from './kernels.js';
import { copyArgs } from './op_args.js';
import { profileBackend } from './profile.js';
import type { Tensor } from './tensor.js';

const onHost = (op: string, named: Record<string, Tensor | null>): void => expectDevice(op, 'cpu', named);

const kernels: Backend = {
  name: 'cpu',
  device: 'cpu',
  zero(x) {
    onHost('zero', { x });
    k.fillZero(x);
  },
  copy(dst, src) {
    onHost('copy', { dst, src });
    addon.copy(dst.ptr, src.ptr, copyArgs(dst, src).bytes);
  },
  add(y, a, b) {
    onHost('add', { y, a, b });
    k.add(y, a, b);
  },
  scale(x, s) {
    onHost('scale', { x });
    k.scaleInplace(x, s);
  },
  embeddingForward(out, ids, table) {
    onHost('embeddingForward', { out, ids, table });
    k.embeddingForward(out, ids, table);
  },
  embeddingBackward(dtable, ids, dout) {
    onHost('embeddingBackward', { dtable, ids, dout });
    k.embeddingBackward(dtable, ids, dout);
  },
  rmsnormForward(y, rstd, x, w, eps) {
    onHost('rmsnormForward', { y, rstd, x, w });
    k.rmsnormForward(y, rstd, x, w, eps);
  },
  rmsnormBackward(dx, dw, dy, x, w, rstd) {
    onHost('rmsnormBackward', { dx, dw, dy, x, w, rstd });
    k.rmsnormBackward(dx, dw, dy, x, w, rstd);
  },
  linearForward(y, x, w, b, accumulate) {
    onHost('linearForward', { y, x, w, b });
    k.linearForward(y, x, w, b, accumulate);
  },
  linearBackward(dx, dw, db, dy, x, w, accumulateDx) {
    onHost('linearBackward', { dx, dw, db, dy, x, w });
    k.linearBackward(dx, dw, db, dy, x, w, accumulateDx);
  },
  loraForward(y, u, x, a, b, col0, scale, accumulate) {
    onHost('loraForward', { y, u, x, a, b });
    k.loraForward(y, u, x, a, b, col0, scale, accumulate);
  },
  loraBackward(dx, ga, gb, dy, x, u, a, b, col0, scale, accumulateDx) {
    onHost('loraBackward', { dx, ga, gb, dy, x, u, a, b });
    k.loraBackward(dx, ga, gb, dy, x, u, a, b, col0, scale, accumulateDx);
  },
  ropeForward(x, positions, cos, sin, nHeads) {
    onHost('ropeForward', { x, positions, cos, sin });
    k.ropeForward(x, positions, cos, sin, { nHeads });
  },
  ropeBackward(dx, positions, cos, sin, nHeads) {
    onHost('ropeBackward', { dx, positions, cos, sin });
    k.ropeBackward(dx, positions, cos, sin, { nHeads });
  },
  attentionForward(out, lse, qkv, cuSeqlens, shape) {
    onHost('attentionForward', { out, lse, qkv, cuSeqlens });
    attentionForward(out, lse, qkv, cuSeqlens, shape);
  },
  attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, shape) {
    onHost('attentionBackward', { dqkv, dout, out, lse, qkv, cuSeqlens });
    attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, shape);
  },
  swigluForward(h, gu) {
    onHost('swigluForward', { h, gu });
    k.swigluForward(h, gu);
  },
  swigluBackward(dgu, dh, gu) {
    onHost('swigluBackward', { dgu, dh, gu });
    k.swigluBackward(dgu, dh, gu);
  },
  dropoutAddForward(out, resid, h, mask) {
    onHost('dropoutAddForward', { out, resid, h, tokens: mask.tokens });
    k.dropoutAddForward(out, resid, h, mask);
  },
  dropoutBackward(dh, dy, mask) {
    onHost('dropoutBackward', { dh, dy, tokens: mask.tokens });
    k.dropoutBackward(dh, dy, mask);
  },
  crossEntropy(logits, targets, logitScale, gradScale, writeGrad) {
    onHost('crossEntropy', { logits, targets });
    return k.crossEntropy(logits, targets, { logitScale, gradScale, writeGrad });
  },
  cast(dst, src) {
    onHost('cast', { dst, src });
    k.cast(dst, src);
  },
  sumSquares(x) {
    onHost('sumSquares', { x });
    return k.sumSquares(x);
  },
  adamw(t, s) {
    onHost('adamw', { ...t });
    k.adamw(t, s);
  },
  synchronize() {},
};

export const cpuBackend: Backend = profileBackend(kernels);
