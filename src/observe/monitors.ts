// The trainer's one hook into TensorBoard and CSV monitoring (rank 0 only): each optimizer
// step becomes a list of (tag, value, x) scalars, DeepSpeed's own tags against global samples
// plus ours against the optimizer step, and goes to every enabled sink.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MonitorConfig } from '../config/index.js';
import type { StepMetrics } from './step_metrics.js';
import { CsvMonitor, truncateCsvFiles } from './csv_monitor.js';
import type { KeepScalar, ScalarEvent } from './scalars.js';
import { isEventFile, TensorBoardWriter, truncateEventFiles } from './tensorboard.js';

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
    if (o.tensorboard.enabled) {
      const dir = monitorDir(o.tensorboard);
      this.prepare(dir, 'tensorboard', isEventFile, truncateEventFiles);
      this.tb = new TensorBoardWriter(dir);
      o.log(`tensorboard: writing ${this.tb.path}`);
    }
    if (o.csv.enabled) {
      const dir = monitorDir(o.csv);
      this.prepare(dir, 'csv_monitor', (f) => f.endsWith('.csv'), truncateCsvFiles);
      this.csv = new CsvMonitor(dir);
      o.log(`csv_monitor: writing ${dir}`);
    }
  }

  /**
   * A resumed run drops what the earlier segment wrote after the resume step (no step twice).
   * A fresh run leaves files it finds alone (they may be another run's under the same
   * job_name) and says so.
   */
  private prepare(dir: string, what: string, isOurs: (name: string) => boolean, truncate: (dir: string, keep: KeepScalar) => string[]): void {
    const { startStep, globalBatch, log } = this.o;
    if (startStep > 0) {
      const cut = truncate(dir, keepThrough(startStep, globalBatch));
      if (cut.length) log(`${what}: dropped scalars after step ${startStep} from ${cut.join(', ')} in ${dir}`);
      return;
    }
    const found = existsSync(dir) ? readdirSync(dir).filter(isOurs) : [];
    if (found.length) log(`warning: ${what}: ${dir} already holds ${found.length} file(s) of an earlier run; new values are added beside them (set ${what}.job_name to keep runs apart)`);
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
