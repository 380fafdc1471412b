// Adam/AdamW over one contiguous range of the flat parameter space (a ZeRO shard, or all of
// it on one process). It owns the fp32 master weights (unless the parameters are already
// fp32, then it updates them in place) and both moments, and writes back the working copy.
import { addon } from '../native/addon.js';
import { DType, MemCategory, type Tensor, alloc, dtypeSize } from '../native/tensor.js';

export interface AdamHyper {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** true: decoupled weight decay (AdamW); false: L2 on the gradient (Adam). */
  adamWMode: boolean;
}

/** A sub-range of the shard, in elements relative to the shard start, and whether it decays. */
export interface DecaySegment {
  start: number;
  length: number;
  decay: boolean;
}

export class ShardAdamW {
  /** fp32 master weights of the shard (the parameters themselves in fp32 mode). */
  readonly master: Tensor;
  readonly expAvg: Tensor;
  readonly expAvgSq: Tensor;
  private readonly ownsMaster: boolean;

  /**
   * params: the working parameters of this shard (fp32, bf16 or fp16); grads: the shard's gradient
   * accumulator. Both are views of exactly the shard's elements.
   */
  constructor(
    readonly params: Tensor,
    readonly grads: Tensor,
    readonly segments: DecaySegment[],
    readonly hyper: AdamHyper,
  ) {
    if (params.numel !== grads.numel) throw new Error(`shard of ${params.numel} parameters but ${grads.numel} gradients`);
    const n = params.numel;
    this.ownsMaster = params.dtype !== DType.F32;
    if (this.ownsMaster) {
      this.master = alloc(DType.F32, [n], MemCategory.Master);
      this.syncMaster();
    } else {
      this.master = params;
    }
    this.expAvg = alloc(DType.F32, [n], MemCategory.Optim);
    this.expAvgSq = alloc(DType.F32, [n], MemCategory.Optim);
  }

  /** Sets the fp32 master weights from the working parameters (after they were (re)loaded). */
  syncMaster(): void {
    if (this.ownsMaster) addon.cast(this.master.ptr, DType.F32, this.params.ptr, this.params.dtype, this.params.numel);
  }

  /** Restores the state (fp32 master, moments); the working parameters follow the master. */
  setState(master: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array): void {
    this.master.writeFloat32(master);
    this.expAvg.writeFloat32(expAvg);
    this.expAvgSq.writeFloat32(expAvgSq);
    if (this.ownsMaster) addon.cast(this.params.ptr, this.params.dtype, this.master.ptr, DType.F32, this.params.numel);
  }

  /** One update with learning rate lr; gradScale multiplies the gradients first (clipping, loss scale). */
  step(step: number, lr: number, gradScale: number): void {
    const [beta1, beta2] = this.hyper.betas;
    for (const seg of this.segments) {
      const wd = seg.decay ? this.hyper.weightDecay : 0;
      const at = (t: Tensor): number => t.ptr + seg.start * dtypeSize[t.dtype];
      addon.adamwStep(
        at(this.master),
        this.ownsMaster ? at(this.params) : null,
        this.params.dtype,
        at(this.grads),
        this.grads.dtype,
        at(this.expAvg),
        at(this.expAvgSq),
        seg.length,
        lr,
        beta1,
        beta2,
        this.hyper.eps,
        wd,
        step,
        gradScale,
        this.hyper.adamWMode,
      );
    }
  }

  free(): void {
    if (this.ownsMaster) this.master.free();
    this.expAvg.free();
    this.expAvgSq.free();
  }
}
