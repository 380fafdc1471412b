// The engine owns what the optimizer step needs around the model: gradient reduction,
// the global gradient norm and clipping, fp16 overflow detection, and the AdamW update on
// the shard this process owns. The trainer only calls microStep() and step(). The
// single-process engine below is ZeRO at world size 1, where every stage is the same
// (one shard holding everything); the multi-rank stages plug in behind the same interface.
import type { TelechatModel, ModelHooks, LossResult } from '../model/model.js';
import type { HostBatch } from '../model/batch.js';
import type { ParamKind, ParamTable } from '../model/params.js';
import { sumSquares } from '../native/kernels.js';
import { type AdamHyper, type DecaySegment, ShardAdamW } from './adamw.js';

export interface StepInput {
  /** 1-based optimizer step (bias correction). */
  step: number;
  lr: number;
  /** Global-norm clipping threshold; 0 = off. */
  maxGradNorm: number;
  /** fp16 loss scale the gradients carry (1 otherwise). */
  lossScale: number;
}

export interface StepResult {
  /** Global gradient norm, before clipping and without the loss scale. */
  gradNorm: number;
  /** Non-finite gradients: the update was skipped. */
  overflow: boolean;
}

export interface Engine {
  readonly model: TelechatModel;
  readonly worldSize: number;
  /** Forward + backward of one micro-batch; gradients accumulate. */
  microStep(batch: HostBatch, gradScale: number): LossResult;
  /** Reduce, clip and update; then clear the gradients for the next step. */
  step(input: StepInput): StepResult;
  /** Drops the accumulated gradients without an update (a skipped step). */
  discardGradients(): void;
  free(): void;
}

/** Decay segments of [start, end) of the flat space: matrices and embeddings decay unless excluded. */
export function decaySegments(table: ParamTable, start: number, end: number, noDecay: readonly ParamKind[]): DecaySegment[] {
  const segments: DecaySegment[] = [];
  for (const e of table.entries) {
    const a = Math.max(start, e.offset);
    const b = Math.min(end, e.offset + e.numel);
    if (a >= b) continue;
    const decay = !noDecay.includes(e.kind);
    const last = segments[segments.length - 1];
    // merge neighbours with the same decay (alignment padding between them is harmless:
    // its gradient and value stay zero)
    if (last && last.decay === decay) last.length = b - start - last.start;
    else segments.push({ start: a - start, length: b - a, decay });
  }
  return segments;
}

export class SingleProcessEngine implements Engine {
  readonly worldSize = 1;
  private readonly optimizer: ShardAdamW;
  private readonly hooks: ModelHooks = {};

  constructor(
    readonly model: TelechatModel,
    hyper: AdamHyper,
    noDecay: readonly ParamKind[],
  ) {
    const total = model.table.total;
    this.optimizer = new ShardAdamW(model.denseParams().buffer, model.denseGrads().buffer, decaySegments(model.table, 0, total, noDecay), hyper);
    model.zeroGrads();
  }

  microStep(batch: HostBatch, gradScale: number): LossResult {
    return this.model.forwardBackward(batch, gradScale, this.hooks);
  }

  step(input: StepInput): StepResult {
    // one fp64 pass: any inf or NaN gradient makes the sum non-finite (finite fp32 values
    // cannot overflow an fp64 sum of squares)
    const sumSq = sumSquares(this.model.denseGrads().buffer);
    const overflow = !Number.isFinite(sumSq);
    let gradNorm = NaN;
    if (!overflow) {
      gradNorm = Math.sqrt(sumSq) / input.lossScale;
      // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1
      const clip = input.maxGradNorm > 0 ? Math.min(1, input.maxGradNorm / (gradNorm + 1e-6)) : 1;
      this.optimizer.step(input.step, input.lr, clip / input.lossScale);
    }
    this.model.zeroGrads();
    return { gradNorm, overflow };
  }

  discardGradients(): void {
    this.model.zeroGrads();
  }

  free(): void {
    this.optimizer.free();
  }
}
