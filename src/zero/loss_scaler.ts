// fp16 loss scaling with DeepSpeed's semantics. Static when fp16.loss_scale > 0; otherwise
// dynamic: start at 2^initial_scale_power; on overflow skip the step and, once `hysteresis`
// overflows have been absorbed, halve the scale (not below min_loss_scale); after
// loss_scale_window steps without overflow double it. consecutive_hysteresis refills the
// hysteresis budget after every good step. An overflow once the scale is at min_loss_scale
// and no hysteresis is left stops the run, as DeepSpeed's DynamicLossScaler raises (its
// raise_error_at_min_scale, on in every ZeRO stage): the scale cannot go lower, so every later
// step would be skipped too and the run would end with its weights untouched.
import type { Fp16Config } from '../config/types.js';

export interface LossScalerState {
  scale: number;
  iter: number;
  lastOverflowIter: number;
  hysteresisLeft: number;
}

export class LossScaler {
  private s: LossScalerState;
  private readonly dynamic: boolean;

  constructor(private readonly cfg: Fp16Config | null) {
    this.dynamic = cfg !== null && cfg.loss_scale === 0;
    const scale = cfg === null ? 1 : this.dynamic ? 2 ** cfg.initial_scale_power : cfg.loss_scale;
    this.s = { scale, iter: 0, lastOverflowIter: -1, hysteresisLeft: cfg?.hysteresis ?? 1 };
  }

  get scale(): number {
    return this.s.scale;
  }

  /** Records the outcome of optimizer step `step` (1-based, for the error; overflow = non-finite gradients). */
  update(overflow: boolean, step: number): void {
    const cfg = this.cfg;
    if (!this.dynamic || cfg === null) return;
    if (overflow) {
      if (cfg.hysteresis === 1 || this.s.hysteresisLeft === 1) {
        if (this.s.scale === cfg.min_loss_scale) {
          throw new Error(
            `step ${step}: the gradients overflowed at the minimum fp16 loss scale ${cfg.min_loss_scale} (fp16.min_loss_scale); stopping, as DeepSpeed does ` +
              '("Current loss scale already at minimum"): every later step would be skipped. Lower the learning rate or fp16.min_loss_scale, or train in bf16',
          );
        }
        this.s.scale = Math.max(this.s.scale / 2, cfg.min_loss_scale);
      } else {
        this.s.hysteresisLeft -= 1;
      }
      this.s.lastOverflowIter = this.s.iter;
    } else {
      if (cfg.consecutive_hysteresis) this.s.hysteresisLeft = cfg.hysteresis;
      if ((this.s.iter - this.s.lastOverflowIter) % cfg.loss_scale_window === 0) {
        if (!cfg.consecutive_hysteresis) this.s.hysteresisLeft = cfg.hysteresis;
        this.s.scale *= 2;
      }
    }
    this.s.iter += 1;
  }

  stateDict(): LossScalerState {
    return { ...this.s };
  }

  loadStateDict(state: LossScalerState): void {
    this.s = { ...state };
  }
}
