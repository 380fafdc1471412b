// The engine owns what the optimizer step needs around the model: gradient reduction,
// the global gradient norm and clipping, fp16 overflow detection, and the AdamW update on
// the shard this process owns. The trainer only calls microStep() and step(). ZeroEngine
// (zero_engine.ts) implements it for stages 0-3; one process is its world-size-1 case.
import type { TelechatModel, LossResult } from '../model/model.js';
import type { HostBatch } from '../model/batch.js';
import type { ParamKind, ParamTable } from '../model/params.js';
import type { DecaySegment } from './adamw.js';

export interface StepInput {
  /** 1-based optimizer step (bias correction). */
  step: number;
  lr: number;
  /** Adam's (beta1, beta2) for this update when the schedule sets them (OneCycle); absent: the configured ones. */
  betas?: [number, number] | null;
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
  /**
   * Forward + backward of one micro-batch; gradients accumulate. `last` marks the final
   * micro-step before step(), where engines that reduce once per step do so.
   */
  microStep(batch: HostBatch, gradScale: number, last: boolean): LossResult;
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
