// The CPU backend: native/src/cpu kernels (OpenBLAS + OpenMP) through their checked
// wrappers in kernels.ts and attention.ts. With TELECHAT_PROFILE=1 every op is timed
// (profile.ts); otherwise cpuBackend is the plain object below.
import { addon } from './addon.js';
import { attentionBackward, attentionForward } from './attention.js';
import type { Backend } from './backend.js';
import * as k from './kernels.js';
import { profileBackend } from './profile.js';

const kernels: Backend = {
  name: 'cpu',
  zero: (x) => k.fillZero(x),
  copy(dst, src) {
    if (dst.bytes !== src.bytes || dst.type !== src.type) throw new Error(`copy: size or type mismatch ([${dst.shape}] vs [${src.shape}])`);
    addon.copy(dst.ptr, src.ptr, dst.bytes);
  },
  add: (y, a, b) => k.add(y, a, b),
  scale: (x, s) => k.scaleInplace(x, s),
  embeddingForward: (out, ids, table) => k.embeddingForward(out, ids, table),
  embeddingBackward: (dtable, ids, dout) => k.embeddingBackward(dtable, ids, dout),
  rmsnormForward: (y, rstd, x, w, eps) => k.rmsnormForward(y, rstd, x, w, eps),
  rmsnormBackward: (dx, dw, dy, x, w, rstd) => k.rmsnormBackward(dx, dw, dy, x, w, rstd),
  linearForward: (y, x, w, b) => k.linearForward(y, x, w, b),
  linearBackward: (dx, dw, db, dy, x, w, accumulateDx) => k.linearBackward(dx, dw, db, dy, x, w, accumulateDx),
  ropeForward: (x, positions, cos, sin, nHeads) => k.ropeForward(x, positions, cos, sin, { nHeads }),
  ropeBackward: (dx, positions, cos, sin, nHeads) => k.ropeBackward(dx, positions, cos, sin, { nHeads }),
  attentionForward: (out, lse, qkv, cuSeqlens, shape) => attentionForward(out, lse, qkv, cuSeqlens, shape),
  attentionBackward: (dqkv, dout, out, lse, qkv, cuSeqlens, shape) => attentionBackward(dqkv, dout, out, lse, qkv, cuSeqlens, shape),
  swigluForward: (h, gu) => k.swigluForward(h, gu),
  swigluBackward: (dgu, dh, gu) => k.swigluBackward(dgu, dh, gu),
  crossEntropy: (logits, targets, logitScale, gradScale, writeGrad) => k.crossEntropy(logits, targets, { logitScale, gradScale, writeGrad }),
};

export const cpuBackend: Backend = profileBackend(kernels);
