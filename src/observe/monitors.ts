// The trainer's one hook into TensorBoard and CSV monitoring (rank 0 only): each optimizer
// step becomes a list of (tag, value, x) scalars, DeepSpeed's own tags against global samples
// plus ours against the optimizer step, and goes to every enabled sink.
import { join } from 'node:path';
import type { MonitorConfig } from '../config/index.js';
import type { StepMetrics } from '../train/metrics.js';
import { CsvMonitor, truncateCsvFiles } from './csv_monitor.js';
import type { KeepScalar, ScalarEvent } from './scalars.js';
import { TensorBoardWriter, truncateEventFiles } from './tensorboard.js';

/** One evaluation (eval.jsonl), for when the trainer evaluates. */
export interface EvalMetrics {
  step: number;
  eval_loss: number;
}

/** DeepSpeed's engine logs these three against `global_samples`. */
const DS_PREFIX = 'Train/Samples/';

export const MEMORY_CATEGORIES = ['params', 'grads', 'master', 'optim', 'activations', 'buffers'] as const;

/** The scalars of one step: DeepSpeed's tags (x = samples so far), then ours (x = step). */
export function stepScalars(m: StepMetrics, globalBatch: number): ScalarEvent[] {
  const samples = m.step * globalBatch;
  const out: ScalarEvent[] = [
    { tag: `${DS_PREFIX}train_loss`, value: m.loss, x: samples },
    { tag: `${DS_PREFIX}lr`, value: m.lr, x: samples },
    { tag: `${DS_PREFIX}loss_scale`, value: m.loss_scale, x: samples },
    { tag: 'train/loss', value: m.loss, x: m.step },
    { tag: 'train/lr', value: m.lr, x: m.step },
    { tag: 'train/grad_norm', value: m.grad_norm, x: m.step },
    { tag: 'train/tokens_per_s', value: m.tokens_per_s, x: m.step },
    { tag: 'train/mfu', value: m.mfu, x: m.step },
  ];
  for (const c of MEMORY_CATEGORIES) out.push({ tag: `mem/${c}`, value: m.mem[c], x: m.step });
  return out;
}

export function evalScalars(e: EvalMetrics): ScalarEvent[] {
  return [{ tag: 'eval/loss', value: e.eval_loss, x: e.step }];
}

/**
 * Which earlier scalars survive a resume at `step`: DeepSpeed's tags count samples, ours
 * steps. Takes a tag (`Train/Samples/lr`) or a CSV file's base name (`Train_Samples_lr`).
 */
export function keepThrough(step: number, globalBatch: number): KeepScalar {
  return (tag, x) => x <= (tag.startsWith(DS_PREFIX) || tag.startsWith('Train_Samples_') ? step * globalBatch : step);
}

export function monitorDir(c: MonitorConfig): string {
  return join(c.output_path, c.job_name);
}

export interface MonitorOptions {
  tensorboard: MonitorConfig;
  csv: MonitorConfig;
  globalBatch: number;
  /** The step this segment starts after (0 = a fresh run); later scalars on disk are dropped. */
  startStep: number;
  log: (line: string) => void;
}

export class Monitors {
  private readonly tb: TensorBoardWriter | null = null;
  private readonly csv: CsvMonitor | null = null;

  constructor(private readonly o: MonitorOptions) {
    const keep = keepThrough(o.startStep, o.globalBatch);
    if (o.tensorboard.enabled) {
      const dir = monitorDir(o.tensorboard);
      const cut = truncateEventFiles(dir, keep);
      if (cut.length) o.log(`tensorboard: dropped scalars after step ${o.startStep} from ${cut.join(', ')} in ${dir}`);
      this.tb = new TensorBoardWriter(dir);
      o.log(`tensorboard: writing ${this.tb.path}`);
    }
    if (o.csv.enabled) {
      const dir = monitorDir(o.csv);
      const cut = truncateCsvFiles(dir, keep);
      if (cut.length) o.log(`csv_monitor: dropped rows after step ${o.startStep} from ${cut.length} file(s) in ${dir}`);
      this.csv = new CsvMonitor(dir);
      o.log(`csv_monitor: writing ${dir}`);
    }
  }

  get enabled(): boolean {
    return this.tb !== null || this.csv !== null;
  }

  onStep(m: StepMetrics): void {
    this.emit(stepScalars(m, this.o.globalBatch));
  }

  /** The seam for evaluation: call once per evaluation, after its eval.jsonl line. */
  onEval(e: EvalMetrics): void {
    this.emit(evalScalars(e));
  }

  private emit(events: ScalarEvent[]): void {
    this.tb?.write(events);
    this.csv?.write(events);
  }

  close(): void {
    this.tb?.close();
  }
}
