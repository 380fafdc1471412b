// Learning-rate schedules as pure functions of the scheduler's `last_batch_iteration`.
//
// Two families, each with its own bookkeeping, kept exactly:
// - DeepSpeed (WarmupLR, WarmupDecayLR, WarmupCosineLR, LRRangeTest, OneCycle): the scheduler starts at
//   last_batch_iteration = -1 and sets the lr for that value at construction; the engine calls
//   step() after every optimizer step. So update k (0-based) runs with lrAt(k - 1): the first
//   update uses warmup_min_lr (WarmupLR/DecayLR) or 0 (WarmupCosineLR, whose get_lr returns 0
//   before the start), and warmup_num_steps is clamped to >= 2 as DeepSpeed does.
// - Hugging Face (cosine, linear, constant; get_*_schedule_with_warmup): a torch LambdaLR,
//   whose construction already steps once, so update k runs with lambda(k) * base lr. The
//   torch.optim.lr_scheduler classes a DeepSpeed config may name (StepLR, ...) are built the same
//   way, so update k runs with their closed form at epoch k.
// Either way the state is {last_batch_iteration} and lr = lrAt(schedule, base, state).
// OneCycle with cycle_momentum also sets Adam's betas (betasAt): beta1 moves against the lr,
// beta2 is 0.99; its constructor sets (cycle_min_mom, 0.99) for last_batch_iteration -1. torch's
// OneCycleLR and CyclicLR with cycle_momentum set beta1 to their momentum at the epoch and keep the
// optimizer's beta2 (OneCycleLR does so for Adam in torch 1.13, CyclicLR from torch 2.2; 1.13's
// CyclicLR cycles only SGD's momentum, by the same formula).
import type { CyclicLRParams, OneCycleLRParams, OneCycleParams, SchedulerConfig, TorchSchedulerConfig } from '../config/types.js';

export interface SchedulerState {
  last_batch_iteration: number;
}

const isDeepSpeed = (s: SchedulerConfig): boolean =>
  s.type === 'WarmupLR' || s.type === 'WarmupDecayLR' || s.type === 'WarmupCosineLR' || s.type === 'LRRangeTest' || s.type === 'OneCycle';

/** State of a freshly built scheduler (DeepSpeed: the configured last_batch_iteration, -1 by default). */
export function initialState(s: SchedulerConfig): SchedulerState {
  switch (s.type) {
    case 'WarmupLR':
    case 'WarmupDecayLR':
    case 'WarmupCosineLR':
    case 'LRRangeTest':
    case 'OneCycle':
      return { last_batch_iteration: s.params.last_batch_iteration };
    default:
      return { last_batch_iteration: 0 }; // LambdaLR's last_epoch after its constructor's step()
  }
}

/** DeepSpeed's warmup gamma in [0, 1) for it in [0, W). */
function warmupGamma(type: 'log' | 'linear', it: number, warmup: number): number {
  return type === 'log' ? Math.log(it + 1) / Math.log(warmup) : it / warmup;
}

/** HF warmup: step / max(1, W). */
function hfWarmup(it: number, warmup: number): number {
  return it / Math.max(1, warmup);
}

/** Updates in OneCycle's cycle: its rising and falling halves. */
const cycleTotal = (p: OneCycleParams): number => p.cycle_first_step_size + (p.cycle_second_step_size ?? p.cycle_first_step_size);

/** OneCycle's position in its cycle for last_batch_iteration `it`: 0 at the ends, 1 at the peak. */
function oneCycleScale(p: OneCycleParams, it: number): number {
  const total = cycleTotal(p);
  const ratio = p.cycle_first_step_size / total;
  const b = it + 1;
  const x = 1 + b / total - Math.floor(1 + b / total);
  return x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
}

/** Steps into OneCycle's decay phase at `it` (null: still in the cycle). */
function oneCycleDecay(p: OneCycleParams, it: number): number | null {
  const total = cycleTotal(p);
  return it < total ? null : it - total + 1;
}

/**
 * The learning rate the scheduler sets when its last_batch_iteration is `it`.
 * `baseLr` is the optimizer's configured lr (ignored by WarmupLR/WarmupDecayLR, which set
 * absolute values between warmup_min_lr and warmup_max_lr).
 */
export function lrAt(s: SchedulerConfig, baseLr: number, it: number): number {
  switch (s.type) {
    case 'WarmupLR':
    case 'WarmupDecayLR': {
      const p = s.params;
      if (it < 0) return p.warmup_min_lr;
      const W = Math.max(2, p.warmup_num_steps);
      let gamma: number;
      if (it < W) gamma = warmupGamma(p.warmup_type, it, W);
      else if (s.type === 'WarmupLR') gamma = 1;
      else gamma = Math.max(0, (s.params.total_num_steps - it) / Math.max(1, s.params.total_num_steps - W));
      return p.warmup_min_lr + (p.warmup_max_lr - p.warmup_min_lr) * gamma;
    }
    case 'WarmupCosineLR': {
      const p = s.params;
      if (it < 0) return 0;
      const W = Math.max(2, p.warmup_num_steps);
      let ratio: number;
      if (it < W) {
        ratio = p.warmup_min_ratio + warmupGamma(p.warmup_type, it, W) * (1 - p.warmup_min_ratio);
      } else {
        const cos = (1 + Math.cos((Math.PI * (it - W + 1)) / (p.total_num_steps - W))) / 2;
        ratio = Math.max(0, p.cos_min_ratio + (1 - p.cos_min_ratio) * cos);
      }
      return baseLr * ratio;
    }
    case 'LRRangeTest': {
      const p = s.params;
      const steps = (it + 1) / p.lr_range_test_step_size;
      return p.lr_range_test_min_lr * (1 + p.lr_range_test_step_rate * (p.lr_range_test_staircase ? Math.floor(steps) : steps));
    }
    case 'OneCycle': {
      const p = s.params;
      const d = oneCycleDecay(p, it);
      if (d === null) return p.cycle_min_lr + (p.cycle_max_lr - p.cycle_min_lr) * oneCycleScale(p, it);
      // no decay when either its step size or its rate is 0 (DeepSpeed's skip_lr_decay)
      if (p.decay_step_size === 0 || p.decay_lr_rate === 0) return p.cycle_min_lr;
      return p.cycle_min_lr / (1 + (p.decay_lr_rate * d) / p.decay_step_size);
    }
    case 'cosine': {
      const { warmup_num_steps: W, total_num_steps: T, num_cycles } = s.params;
      if (it < W) return baseLr * hfWarmup(it, W);
      const progress = (it - W) / Math.max(1, T - W);
      return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * num_cycles * 2 * progress)));
    }
    case 'linear': {
      const { warmup_num_steps: W, total_num_steps: T } = s.params;
      if (it < W) return baseLr * hfWarmup(it, W);
      return baseLr * Math.max(0, (T - it) / Math.max(1, T - W));
    }
    case 'constant': {
      const W = s.params.warmup_num_steps;
      return it < W ? baseLr * hfWarmup(it, W) : baseLr;
    }
    default:
      return torchLr(s, baseLr, it);
  }
}

/** torch.optim.lr_scheduler's closed form (its _get_closed_form_lr) at epoch `t` of optimizer lr `base`. */
function torchLr(s: TorchSchedulerConfig, base: number, t: number): number {
  switch (s.type) {
    case 'StepLR':
      return base * s.params.gamma ** Math.floor(t / s.params.step_size);
    case 'MultiStepLR':
      return base * s.params.gamma ** s.params.milestones.filter((m) => m <= t).length;
    case 'ExponentialLR':
      return base * s.params.gamma ** t;
    case 'ConstantLR':
      return base * (t < s.params.total_iters ? s.params.factor : 1);
    case 'LinearLR': {
      const { start_factor: a, end_factor: b, total_iters: n } = s.params;
      return base * (a + ((b - a) * Math.min(n, t)) / n);
    }
    case 'PolynomialLR': {
      const { total_iters: n, power } = s.params;
      return base * (1 - Math.min(n, t) / n) ** power;
    }
    case 'CosineAnnealingLR': {
      const { T_max, eta_min } = s.params;
      return eta_min + ((base - eta_min) * (1 + Math.cos((Math.PI * t) / T_max))) / 2;
    }
    case 'CosineAnnealingWarmRestarts': {
      const { eta_min } = s.params;
      const { cur, period } = warmRestartPosition(s.params.T_0, s.params.T_mult, t);
      return eta_min + ((base - eta_min) * (1 + Math.cos((Math.PI * cur) / period))) / 2;
    }
    case 'OneCycleLR':
      return oneCycleLR(s.params, t).lr;
    case 'CyclicLR':
      return cyclicLR(s.params, t).lr;
  }
}

/**
 * Where CosineAnnealingWarmRestarts is at epoch t: torch steps T_cur by one and, on reaching the
 * period T_i, subtracts it and multiplies T_i by T_mult (integers, so counted exactly here).
 */
function warmRestartPosition(T0: number, mult: number, t: number): { cur: number; period: number } {
  if (mult === 1) return { cur: t % T0, period: T0 };
  let cur = t;
  let period = T0;
  while (cur >= period) {
    cur -= period;
    period *= mult;
  }
  return { cur, period };
}

/** torch's OneCycleLR at epoch t: lr and beta1 (its "momentum") by phase, annealed by cos or linearly. */
function oneCycleLR(p: OneCycleLRParams, t: number): { lr: number; momentum: number } {
  const initial = p.max_lr / p.div_factor;
  const min = initial / p.final_div_factor;
  const T = p.total_steps;
  const phases = p.three_phase
    ? [
        { end: p.pct_start * T - 1, lr: [initial, p.max_lr], mom: [p.max_momentum, p.base_momentum] },
        { end: 2 * p.pct_start * T - 2, lr: [p.max_lr, initial], mom: [p.base_momentum, p.max_momentum] },
        { end: T - 1, lr: [initial, min], mom: [p.max_momentum, p.max_momentum] },
      ]
    : [
        { end: p.pct_start * T - 1, lr: [initial, p.max_lr], mom: [p.max_momentum, p.base_momentum] },
        { end: T - 1, lr: [p.max_lr, min], mom: [p.base_momentum, p.max_momentum] },
      ];
  const anneal = (a: number, b: number, pct: number): number =>
    p.anneal_strategy === 'cos' ? b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1) : (b - a) * pct + a;
  let start = 0;
  for (const [i, ph] of phases.entries()) {
    if (t <= ph.end || i === phases.length - 1) {
      const pct = (t - start) / (ph.end - start);
      return { lr: anneal(ph.lr[0]!, ph.lr[1]!, pct), momentum: anneal(ph.mom[0]!, ph.mom[1]!, pct) };
    }
    start = ph.end;
  }
  throw new Error('unreachable: the last phase always answers');
}

/** torch's CyclicLR at epoch t (scale_fn null): lr and beta1 (its "momentum"). */
function cyclicLR(p: CyclicLRParams, t: number): { lr: number; momentum: number } {
  const size = p.step_size_up + p.step_size_down;
  const ratio = p.step_size_up / size;
  const cycle = Math.floor(1 + t / size);
  const x = 1 + t / size - cycle;
  const factor = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
  // the modes' scale functions: of the cycle (triangular, triangular2) or of the iteration (exp_range)
  const scale = p.mode === 'triangular' ? 1 : p.mode === 'triangular2' ? 1 / 2 ** (cycle - 1) : p.gamma ** t;
  return {
    lr: p.base_lr + (p.max_lr - p.base_lr) * factor * scale,
    momentum: p.max_momentum - (p.max_momentum - p.base_momentum) * factor * scale,
  };
}

/**
 * Adam's (beta1, beta2) the scheduler sets when its last_batch_iteration is `it`; null: the
 * optimizer's own (every schedule but OneCycle with cycle_momentum).
 */
export function betasAt(s: SchedulerConfig, it: number): [number, number] | null {
  // torch's cyclic classes: beta1 is their momentum at the epoch, beta2 the optimizer's
  if (s.type === 'OneCycleLR' && s.params.cycle_momentum) return [oneCycleLR(s.params, it).momentum, s.params.beta2];
  if (s.type === 'CyclicLR' && s.params.cycle_momentum) return [cyclicLR(s.params, it).momentum, s.params.beta2];
  if (s.type !== 'OneCycle' || !s.params.cycle_momentum) return null;
  const p = s.params;
  if (it === -1) return [p.cycle_min_mom, 0.99]; // what the constructor sets
  const d = oneCycleDecay(p, it);
  if (d === null) return [p.cycle_max_mom - (p.cycle_max_mom - p.cycle_min_mom) * oneCycleScale(p, it), 0.99];
  if (p.decay_step_size === 0 || p.decay_mom_rate === 0) return [p.cycle_max_mom, 0.99];
  return [p.cycle_max_mom * (1 + (p.decay_mom_rate * d) / p.decay_step_size), 0.99];
}

/** The lr used by optimizer update k (0-based) of a run started fresh. */
export function lrForUpdate(s: SchedulerConfig, baseLr: number, k: number): number {
  return lrAt(s, baseLr, initialState(s).last_batch_iteration + k);
}

/**
 * Whether the schedule's lr follows the optimizer's (WarmupDecayLR, say, sets its own from
 * warmup_max_lr): probed over updates 0 .. `updates` (at most 1000) with `lr` and `other` as the
 * base, since a schedule may be 0 at any one of them.
 */
export function readsBaseLr(s: SchedulerConfig, lr: number, other: number, updates: number): boolean {
  for (let k = 0; k <= Math.min(updates, 1000); k++) if (lrForUpdate(s, lr, k) !== lrForUpdate(s, other, k)) return true;
  return false;
}

/** A stateful wrapper for the trainer: read `lr` for the coming update, then step() after it. */
export class LrScheduler {
  private state: SchedulerState;

  constructor(
    readonly schedule: SchedulerConfig,
    readonly baseLr: number,
    state?: SchedulerState,
  ) {
    this.state = state ? { ...state } : initialState(schedule);
  }

  get lr(): number {
    return lrAt(this.schedule, this.baseLr, this.state.last_batch_iteration);
  }

  /** Adam's betas for the coming update when the schedule sets them (OneCycle), else null. */
  get betas(): [number, number] | null {
    return betasAt(this.schedule, this.state.last_batch_iteration);
  }

  step(): void {
    this.state.last_batch_iteration += 1;
  }

  stateDict(): SchedulerState {
    return { ...this.state };
  }

  loadStateDict(state: SchedulerState): void {
    if (!Number.isInteger(state.last_batch_iteration)) {
      throw new Error(`scheduler state: last_batch_iteration must be an integer, got ${JSON.stringify(state.last_batch_iteration)}`);
    }
    this.state = { ...state };
  }

  /** Which bookkeeping this schedule follows (see the file comment). */
  get family(): 'deepspeed' | 'huggingface' {
    return isDeepSpeed(this.schedule) ? 'deepspeed' : 'huggingface';
  }
}
