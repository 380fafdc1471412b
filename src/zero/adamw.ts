// Adam/AdamW over one contiguous range of the flat parameter space (a ZeRO shard, or all of
// it on one process). It owns the fp32 master weights (unless the parameters are already
// fp32, then it updates them in place) and both moments, and writes back the working copy.
// Its state lives on the backend's device, next to the parameters - or, with offload on a GPU
// (DeepSpeed's offload_optimizer "cpu"), in host memory. Parameters or gradients that live on
// another device than the update (offloaded optimizer; parameters offloaded by ZeRO-3's
// offload_param) go through a staging copy: gradients are copied in before the update, the
// updated working weights copied back after it.
import type { Backend } from '../native/backend.js';
import { cpuBackend } from '../native/cpu_backend.js';
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
  /** Computes the update: the parameters' backend, or the CPU when offloaded. */
  private readonly stateBe: Backend;
  /** Copies on the update's device of params / grads that live elsewhere (else null). */
  private readonly stagedParams: Tensor | null;
  private readonly stagedGrads: Tensor | null;

  /**
   * params: the working parameters of this shard (fp32, bf16 or fp16); grads: the shard's gradient
   * accumulator. Both are views of exactly the shard's elements. offload: keep the state in host
   * memory when the backend is a GPU (no effect on the CPU, where it already is).
   */
  constructor(
    be: Backend,
    readonly params: Tensor,
    readonly grads: Tensor,
    readonly segments: DecaySegment[],
    readonly hyper: AdamHyper,
    offload = false,
  ) {
    if (params.numel !== grads.numel) throw new Error(`shard of ${params.numel} parameters but ${grads.numel} gradients`);
    const n = params.numel;
    this.stateBe = offload && be.device !== 'cpu' ? cpuBackend : be;
    const home = this.stateBe.device;
    this.stagedParams = params.device === home ? null : alloc(params.type, [n], MemCategory.Buffers, home);
    this.stagedGrads = grads.device === home ? null : alloc(grads.type, [n], MemCategory.Buffers, home);
    this.ownsMaster = params.dtype !== DType.F32;
    if (this.ownsMaster) {
      this.master = alloc(DType.F32, [n], MemCategory.Master, home);
      this.syncMaster();
    } else {
      this.master = this.stateParams;
      this.stageIn(this.params, this.stagedParams);
    }
    this.expAvg = alloc(DType.F32, [n], MemCategory.Optim, home);
    this.expAvgSq = alloc(DType.F32, [n], MemCategory.Optim, home);
  }

  /** The working parameters where the update computes. */
  private get stateParams(): Tensor {
    return this.stagedParams ?? this.params;
  }

  /** Copies `t` into its staging copy on the update's device (nothing when there is none). */
  private stageIn(t: Tensor, staged: Tensor | null): void {
    if (staged) staged.writeBytes(t.readBytes());
  }

  /** The updated working weights back to the parameters, when they were staged. */
  private stageOut(): void {
    if (this.stagedParams) this.params.writeBytes(this.stagedParams.readBytes());
  }

  /** Sets the fp32 master weights from the working parameters (after they were (re)loaded). */
  syncMaster(): void {
    this.stageIn(this.params, this.stagedParams);
    if (this.ownsMaster) this.stateBe.cast(this.master, this.stateParams);
  }

  /** Restores the state (fp32 master, moments); the working parameters follow the master. */
  setState(master: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array): void {
    this.master.writeFloat32(master);
    this.expAvg.writeFloat32(expAvg);
    this.expAvgSq.writeFloat32(expAvgSq);
    if (this.ownsMaster) this.stateBe.cast(this.stateParams, this.master);
    this.stageOut();
  }

  /**
   * One update with learning rate lr; gradScale multiplies the gradients first (clipping, loss
   * scale); betas, when given, replace the configured ones for this update (a schedule that cycles
   * momentum: bias correction then uses them, as torch's Adam reads a param group's betas).
   */
  step(step: number, lr: number, gradScale: number, betas: [number, number] | null = null): void {
    const [beta1, beta2] = betas ?? this.hyper.betas;
    this.stageIn(this.grads, this.stagedGrads);
    const grads = this.stagedGrads ?? this.grads;
    for (const seg of this.segments) {
      const part = (t: Tensor): Tensor => t.view(seg.start, [seg.length]);
      this.stateBe.adamw(
        {
          master: part(this.master),
          paramCopy: this.ownsMaster ? part(this.stateParams) : null,
          grad: part(grads),
          expAvg: part(this.expAvg),
          expAvgSq: part(this.expAvgSq),
        },
        { lr, beta1, beta2, eps: this.hyper.eps, weightDecay: seg.decay ? this.hyper.weightDecay : 0, step, gradScale, adamWMode: this.hyper.adamWMode },
      );
    }
    this.stageOut();
  }

  free(): void {
    if (this.ownsMaster) this.master.free();
    this.expAvg.free();
    this.expAvgSq.free();
    this.stagedParams?.free();
    this.stagedGrads?.free();
  }
}
