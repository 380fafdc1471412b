// Adam/AdamW over one contiguous range of the flat parameter space (a ZeRO shard, or all of
// it on one process). It owns the fp32 master weights (unless the parameters are already
// fp32, then it updates them in place) and both moments, and writes back the working copy.
// Its state lives on the backend's device, next to the parameters - or, with offload on a GPU
// (DeepSpeed's offload_optimizer "cpu"), in host memory: each step then copies the gradients
// down, runs the CPU AdamW, and copies the updated 16-bit weights back up.
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

/** Host copies of a device shard's parameters and gradients (offloaded optimizer). */
interface HostStaging {
  params: Tensor;
  grads: Tensor;
}

export class ShardAdamW {
  /** fp32 master weights of the shard (the parameters themselves in fp32 mode). */
  readonly master: Tensor;
  readonly expAvg: Tensor;
  readonly expAvgSq: Tensor;
  private readonly ownsMaster: boolean;
  /** Computes the update: the parameters' backend, or the CPU when offloaded. */
  private readonly stateBe: Backend;
  private readonly staging: HostStaging | null;

  /**
   * params: the working parameters of this shard (fp32, bf16 or fp16); grads: the shard's gradient
   * accumulator. Both are views of exactly the shard's elements. offload: keep the state in host
   * memory when the parameters live on a GPU (no effect on the CPU, where it already is).
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
    const onHost = offload && be.device !== 'cpu';
    this.stateBe = onHost ? cpuBackend : be;
    this.staging = onHost
      ? { params: alloc(params.type, [n], MemCategory.Buffers, 'cpu'), grads: alloc(grads.type, [n], MemCategory.Buffers, 'cpu') }
      : null;
    this.ownsMaster = params.dtype !== DType.F32;
    if (this.ownsMaster) {
      this.master = alloc(DType.F32, [n], MemCategory.Master, this.stateBe.device);
      this.syncMaster();
    } else {
      this.master = this.staging?.params ?? params;
      this.download(this.params);
    }
    this.expAvg = alloc(DType.F32, [n], MemCategory.Optim, this.stateBe.device);
    this.expAvgSq = alloc(DType.F32, [n], MemCategory.Optim, this.stateBe.device);
  }

  /** The working parameters where the update computes: the staging copy when offloaded. */
  private get stateParams(): Tensor {
    return this.staging?.params ?? this.params;
  }

  /** Offloaded: device tensor -> its host staging copy. */
  private download(t: Tensor): void {
    if (!this.staging) return;
    (t === this.grads ? this.staging.grads : this.staging.params).writeBytes(t.readBytes());
  }

  /** Offloaded: the updated host weights -> the device parameters. */
  private upload(): void {
    if (this.staging) this.params.writeBytes(this.staging.params.readBytes());
  }

  /** Sets the fp32 master weights from the working parameters (after they were (re)loaded). */
  syncMaster(): void {
    this.download(this.params);
    if (this.ownsMaster) this.stateBe.cast(this.master, this.stateParams);
  }

  /** Restores the state (fp32 master, moments); the working parameters follow the master. */
  setState(master: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array): void {
    this.master.writeFloat32(master);
    this.expAvg.writeFloat32(expAvg);
    this.expAvgSq.writeFloat32(expAvgSq);
    if (this.ownsMaster) this.stateBe.cast(this.stateParams, this.master);
    this.upload();
  }

  /** One update with learning rate lr; gradScale multiplies the gradients first (clipping, loss scale). */
  step(step: number, lr: number, gradScale: number): void {
    const [beta1, beta2] = this.hyper.betas;
    this.download(this.grads);
    const grads = this.staging?.grads ?? this.grads;
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
    this.upload();
  }

  free(): void {
    if (this.ownsMaster) this.master.free();
    this.expAvg.free();
    this.expAvgSq.free();
    this.staging?.params.free();
    this.staging?.grads.free();
  }
}
