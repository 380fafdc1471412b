// Adam/AdamW over one contiguous range of the flat parameter space (a ZeRO shard, or all of
// it on one process). It owns the fp32 master weights (unless the parameters are already
// fp32, then it updates them in place) and both moments, and writes back the working copy.
// Its state lives on the backend's device, next to the parameters.
import type { Backend } from '../native/backend.js';
import { DType, MemCategory, type Tensor, alloc } from '../native/tensor.js';

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
    private readonly be: Backend,
    readonly params: Tensor,
    readonly grads: Tensor,
    readonly segments: DecaySegment[],
    readonly hyper: AdamHyper,
  ) {
    if (params.numel !== grads.numel) throw new Error(`shard of ${params.numel} parameters but ${grads.numel} gradients`);
    const n = params.numel;
    this.ownsMaster = params.dtype !== DType.F32;
    if (this.ownsMaster) {
      this.master = alloc(DType.F32, [n], MemCategory.Master, be.device);
      this.syncMaster();
    } else {
      this.master = params;
    }
    this.expAvg = alloc(DType.F32, [n], MemCategory.Optim, be.device);
    this.expAvgSq = alloc(DType.F32, [n], MemCategory.Optim, be.device);
  }

  /** Sets the fp32 master weights from the working parameters (after they were (re)loaded). */
  syncMaster(): void {
    if (this.ownsMaster) this.be.cast(this.master, this.params);
  }

  /** Restores the state (fp32 master, moments); the working parameters follow the master. */
  setState(master: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array): void {
    this.master.writeFloat32(master);
    this.expAvg.writeFloat32(expAvg);
    this.expAvgSq.writeFloat32(expAvgSq);
    if (this.ownsMaster) this.be.cast(this.params, this.master);
  }

  /** One update with learning rate lr; gradScale multiplies the gradients first (clipping, loss scale). */
  step(step: number, lr: number, gradScale: number): void {
    const [beta1, beta2] = this.hyper.betas;
    for (const seg of this.segments) {
      const part = (t: Tensor): Tensor => t.view(seg.start, [seg.length]);
      this.be.adamw(
        {
          master: part(this.master),
          paramCopy: this.ownsMaster ? part(this.params) : null,
          grad: part(this.grads),
          expAvg: part(this.expAvg),
          expAvgSq: part(this.expAvgSq),
        },
        { lr, beta1, beta2, eps: this.hyper.eps, weightDecay: seg.decay ? this.hyper.weightDecay : 0, step, gradScale, adamWMode: this.hyper.adamWMode },
      );
    }
  }

  free(): void {
    if (this.ownsMaster) this.master.free();
    this.expAvg.free();
    this.expAvgSq.free();
  }
}
