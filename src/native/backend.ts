// The one interface the model computes through. Each backend (CPU today, CUDA later)
// implements every op with the semantics of native/src/cpu/ops.h: parameter gradients
// accumulate (+=), shapes come from the tensors, compute is fp32 whatever the storage.
import type { Tensor } from './tensor.js';

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale: number;
}

export interface Backend {
  readonly name: 'cpu' | 'cuda';
  zero(x: Tensor): void;
  /** dst = src (same dtype and size). */
  copy(dst: Tensor, src: Tensor): void;
  /** y = a + b (y may alias a or b). */
  add(y: Tensor, a: Tensor, b: Tensor): void;
  scale(x: Tensor, s: number): void;
  embeddingForward(out: Tensor, ids: Tensor, table: Tensor): void;
  /** dtable[ids[t]] += dout[t]. */
  embeddingBackward(dtable: Tensor, ids: Tensor, dout: Tensor): void;
  rmsnormForward(y: Tensor, rstd: Tensor, x: Tensor, w: Tensor, eps: number): void;
  /** dx += ..., dw += ... */
  rmsnormBackward(dx: Tensor, dw: Tensor, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor): void;
  /** y = x W^T (+ b). */
  linearForward(y: Tensor, x: Tensor, w: Tensor, b: Tensor | null): void;
  /** dx = dy W (+= when accumulateDx); dw += dy^T x; db += sum dy. */
  linearBackward(dx: Tensor | null, dw: Tensor, db: Tensor | null, dy: Tensor, x: Tensor, w: Tensor, accumulateDx: boolean): void;
  /** Rotates the first nHeads heads of each row of x ([T, width]) in place; head dim = 2 * cos columns. */
  ropeForward(x: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, nHeads: number): void;
  ropeBackward(dx: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, nHeads: number): void;
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, cuSeqlens: Tensor, shape: AttentionShape): void;
  attentionBackward(dqkv: Tensor, dout: Tensor, out: Tensor, lse: Tensor, qkv: Tensor, cuSeqlens: Tensor, shape: AttentionShape): void;
  swigluForward(h: Tensor, gu: Tensor): void;
  swigluBackward(dgu: Tensor, dh: Tensor, gu: Tensor): void;
  /** Fused cross-entropy; with writeGrad, logits become gradScale * dloss/dlogits. */
  crossEntropy(logits: Tensor, targets: Tensor, logitScale: number, gradScale: number, writeGrad: boolean): { lossSum: number; count: number };
}
