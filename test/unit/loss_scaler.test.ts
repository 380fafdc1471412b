// fp16 dynamic loss scaling with DeepSpeed's DynamicLossScaler semantics, traced by hand.
import { describe, expect, it } from 'vitest';
import type { Fp16Config } from '../../src/config/types.js';
import { LossScaler } from '../../src/zero/loss_scaler.js';

const base: Fp16Config = {
  enabled: true, auto_cast: false, loss_scale: 0, initial_scale_power: 4, loss_scale_window: 3, hysteresis: 2,
  consecutive_hysteresis: false, min_loss_scale: 2, fp16_master_weights_and_grads: false,
};

function trace(cfg: Fp16Config, overflows: boolean[]): number[] {
  const s = new LossScaler(cfg);
  const scales: number[] = [];
  for (const o of overflows) {
    scales.push(s.scale);
    s.update(o, 1);
  }
  scales.push(s.scale);
  return scales;
}

describe('LossScaler (DeepSpeed semantics)', () => {
  it('hysteresis absorbs the first overflow, the second halves; a window of clean steps doubles', () => {
    // start 2^4 = 16; overflow (hysteresis 2 -> 1, keep 16); overflow (halve to 8);
    // clean steps at iter 2, 3, 4: (iter - last_overflow 1) % 3 == 0 at iter 4 -> double to 16
    expect(trace(base, [true, true, false, false, false])).toEqual([16, 16, 8, 8, 8, 16]);
  });

  it('never goes below min_loss_scale', () => {
    // DeepSpeed: max(scale / 2, min_scale), so a minimum that is no power of two is reached exactly
    expect(trace({ ...base, hysteresis: 1, min_loss_scale: 3 }, [true, true, true])).toEqual([16, 8, 4, 3]);
  });

  it('without consecutive_hysteresis the budget refills only at a window boundary; with it, after any clean step', () => {
    // overflow (16, hyst 1), clean (iter 1: (1-0)%3 != 0, hyst stays 1), overflow -> halve
    expect(trace(base, [true, false, true])).toEqual([16, 16, 16, 8]);
    // consecutive: the clean step refills hysteresis to 2, so the next overflow is absorbed
    expect(trace({ ...base, consecutive_hysteresis: true }, [true, false, true])).toEqual([16, 16, 16, 16]);
  });

  it('an overflow at min_loss_scale with no hysteresis left stops the run, as DeepSpeed raises', () => {
    // DeepSpeed's DynamicLossScaler (raise_error_at_min_scale, on in every ZeRO stage): 16 -> 8 -> 4 -> 2
    // (min), then an overflow at 2 raises "Current loss scale already at minimum"; skipping every step
    // after that would end with exit 0 and untrained weights
    const s = new LossScaler({ ...base, hysteresis: 1 });
    for (const _ of [1, 2, 3]) s.update(true, 1);
    expect(s.scale).toBe(2);
    expect(() => s.update(true, 7)).toThrow(
      /^step 7: the gradients overflowed at the minimum fp16 loss scale 2 \(fp16.min_loss_scale\); stopping, as DeepSpeed does/,
    );
  });

  it('at min_loss_scale, hysteresis still absorbs an overflow before the run stops; a static scale never stops it', () => {
    const s = new LossScaler({ ...base, initial_scale_power: 1 }); // starts at the minimum 2, hysteresis 2
    s.update(true, 1); // absorbed (hysteresis 2 -> 1)
    expect(s.scale).toBe(2);
    expect(() => s.update(true, 2)).toThrow(/minimum fp16 loss scale 2/);
    // a static scale never stops the run: DeepSpeed's static LossScaler skips and goes on
    const st = new LossScaler({ ...base, loss_scale: 1 });
    for (const _ of [1, 2, 3]) expect(() => st.update(true, 1)).not.toThrow();
  });

  it('a static loss_scale never changes', () => {
    expect(trace({ ...base, loss_scale: 128 }, [true, false, true])).toEqual([128, 128, 128, 128]);
  });
});
