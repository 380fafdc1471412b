// Which rows each rank reads at each step (DESIGN.md "Steps and epochs"). Epoch e's order is
// a seeded permutation of all rows; global batch s of the epoch is the fixed slice
// [s*G, (s+1)*G) of it; the last partial global batch is dropped. Inside a global batch,
// micro-step m of rank r takes the fixed sub-slice starting at (m*W + r)*b. The set of rows
// in a step therefore depends only on (seed, step, G), never on the world size W or on the
// micro-batch b / accumulation A split (G = b*A*W), so results do not either.
import { Rng, permutation } from './rng.js';

export interface SamplerConfig {
  numRows: number;
  /** Rows per rank per micro-step (b). */
  microBatch: number;
  /** Micro-steps per optimizer step (A). */
  gradAccum: number;
  worldSize: number;
  seed: number;
}

export class Sampler {
  readonly globalBatch: number;
  readonly stepsPerEpoch: number;
  private cachedEpoch = -1;
  private cachedPerm: Int32Array = new Int32Array(0);

  constructor(readonly cfg: SamplerConfig) {
    for (const k of ['numRows', 'microBatch', 'gradAccum', 'worldSize'] as const) {
      if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new Error(`sampler: ${k} must be a positive integer, got ${cfg[k]}`);
    }
    this.globalBatch = cfg.microBatch * cfg.gradAccum * cfg.worldSize;
    if (cfg.numRows < this.globalBatch) {
      throw new Error(
        `the dataset has ${cfg.numRows} rows, fewer than one global batch of ${this.globalBatch} ` +
          `(micro-batch ${cfg.microBatch} x accumulation ${cfg.gradAccum} x world size ${cfg.worldSize})`,
      );
    }
    this.stepsPerEpoch = Math.floor(cfg.numRows / this.globalBatch);
  }

  /** Step (0-based, counting across epochs) -> its epoch and index within the epoch. */
  position(step: number): { epoch: number; stepInEpoch: number } {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`sampler: step must be a non-negative integer, got ${step}`);
    return { epoch: Math.floor(step / this.stepsPerEpoch), stepInEpoch: step % this.stepsPerEpoch };
  }

  /** The row order of an epoch. */
  epochOrder(epoch: number): Int32Array {
    if (epoch !== this.cachedEpoch) {
      this.cachedPerm = permutation(this.cfg.numRows, new Rng(this.cfg.seed, epoch));
      this.cachedEpoch = epoch;
    }
    return this.cachedPerm;
  }

  /** All rows of a step's global batch, in sub-slice order. */
  globalBatchRows(step: number): Int32Array {
    const { epoch, stepInEpoch } = this.position(step);
    const start = stepInEpoch * this.globalBatch;
    return this.epochOrder(epoch).slice(start, start + this.globalBatch);
  }

  /** The rows rank `rank` reads at micro-step `micro` of optimizer step `step`. */
  microBatchRows(step: number, rank: number, micro: number): Int32Array {
    const { worldSize, gradAccum, microBatch } = this.cfg;
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`sampler: rank ${rank} not in [0, ${worldSize})`);
    if (!Number.isInteger(micro) || micro < 0 || micro >= gradAccum) {
      throw new RangeError(`sampler: micro-step ${micro} not in [0, ${gradAccum})`);
    }
    const { epoch, stepInEpoch } = this.position(step);
    const start = stepInEpoch * this.globalBatch + (micro * worldSize + rank) * microBatch;
    return this.epochOrder(epoch).slice(start, start + microBatch);
  }
}
