// The one interface the model and the ZeRO engine compute through. Each backend (CPU, CUDA)
// implements every op with the semantics of native/src/cpu/ops.h: parameter gradients
// accumulate (+=), shapes come from the tensors, compute is fp32 whatever the storage. Every
// tensor an op gets must live on the backend's device (allocate with `alloc(..., be.device)`).
import type { DropoutMask } from './op_args.js';
import type { Device, Tensor } from './tensor.js';

export type { DropoutMask } from './op_args.js';

export interface AttentionShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  scale: number;
}

/** The scalars of one AdamW update (the same arithmetic as native/src/cpu/adamw.cc). */
export interface AdamwScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step (bias correction). */
  step: number;
  /** Multiplies the gradient first (clipping and loss-scale removal). */
  gradScale: number;
  /** true: decoupled weight decay (AdamW); false: L2 added to the gradient (Adam). */
  adamWMode: boolean;
}

/** The tensors of one AdamW update, all of the same length. */
export interface AdamwTensors {
  /** fp32 weights updated in place. */
  master: Tensor;
  /** A 16-bit working copy rewritten from master, or null when the parameters are the fp32 master. */
  paramCopy: Tensor | null;
  grad: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

export interface Backend {
  readonly name: 'cpu' | 'cuda';
  /** Where this backend's tensors live. */
  readonly device: Device;
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
  /** y = x W^T (+ b) (y += ... when accumulate: an adapter's output already there). */
  linearForward(y: Tensor, x: Tensor, w: Tensor, b: Tensor | null, accumulate: boolean): void;
  /**
   * dx = dy W (+= when accumulateDx); dw += dy^T x (null dw: frozen weight, no dW GEMM); db += sum dy.
   * dx may be x itself: dW reads x before dX overwrites it.
   */
  linearBackward(dx: Tensor | null, dw: Tensor | null, db: Tensor | null, dy: Tensor, x: Tensor, w: Tensor, accumulateDx: boolean): void;
  /**
   * LoRA adapter on columns [col0, col0 + Out) of y [T, width]: u [T, R] = scale x a^T, y[:, window] = u b^T, or += when
   * accumulate (a [R, In], b [Out, R]). y null: u alone, the same values (the backward recomputes u rather than keeping it).
   */
  loraForward(y: Tensor | null, u: Tensor, x: Tensor, a: Tensor, b: Tensor, col0: number, scale: number, accumulate: boolean): void;
  /**
   * gb += dy_win^T u; ga += du^T x and dx = du a (+= when accumulateDx; null dx: not wanted) with
   * du = scale dy_win b. dx may be x itself: each row of x is read before that row of dx is written.
   */
  loraBackward(dx: Tensor | null, ga: Tensor, gb: Tensor, dy: Tensor, x: Tensor, u: Tensor, a: Tensor, b: Tensor, col0: number, scale: number,
    accumulateDx: boolean): void;
  /** Rotates the first nHeads heads of each row of x ([T, width]) in place; head dim = 2 * cos columns. */
  ropeForward(x: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, nHeads: number): void;
  ropeBackward(dx: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, nHeads: number): void;
  attentionForward(out: Tensor, lse: Tensor, qkv: Tensor, cuSeqlens: Tensor, shape: AttentionShape): void;
  attentionBackward(dqkv: Tensor, dout: Tensor, out: Tensor, lse: Tensor, qkv: Tensor, cuSeqlens: Tensor, shape: AttentionShape): void;
  swigluForward(h: Tensor, gu: Tensor): void;
  /** dgu may alias gu: every element reads its gate and up before it writes their gradients. */
  swigluBackward(dgu: Tensor, dh: Tensor, gu: Tensor): void;
  /** out = resid + mask * h / (1 - p) on [T, C] (out may alias resid or h); training-only residual dropout. */
  dropoutAddForward(out: Tensor, resid: Tensor, h: Tensor, mask: DropoutMask): void;
  /** dh = mask * dy / (1 - p) with the forward's mask (regenerated from its key, never stored). */
  dropoutBackward(dh: Tensor, dy: Tensor, mask: DropoutMask): void;
  /** Fused cross-entropy; with writeGrad, logits become gradScale * dloss/dlogits. */
  crossEntropy(logits: Tensor, targets: Tensor, logitScale: number, gradScale: number, writeGrad: boolean): { lossSum: number; count: number };

  // flat-buffer ops of the optimizer and the ZeRO engine
  /** dst = src converted to dst's dtype (same element count). */
  cast(dst: Tensor, src: Tensor): void;
  /** Sum of squares of x, accumulated in fp64 in a fixed order (reproducible). */
  sumSquares(x: Tensor): number;
  adamw(t: AdamwTensors, s: AdamwScalars): void;
  /** Returns when every op issued so far has finished (no-op where ops are synchronous). */
  synchronize(): void;
}
