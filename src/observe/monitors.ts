// The trainer's one hook into TensorBoard and CSV monitoring (rank 0 only): each optimizer
// step becomes a list of (tag, value, x) scalars, DeepSpeed's tag names against global samples
// plus ours against the optimizer step, and goes to every enabled sink.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isInside } from '../checkpoint/output_path.js';
import type { MonitorConfig } from '../config/index.js';
import type { StepMetrics } from './step_metrics.js';
import { CsvMonitor, csvWrittenByOneRun, truncateCsvFiles } from './csv_monitor.js';
import type { KeepScalar, ScalarEvent } from './scalars.js';
import { isEventFile, TensorBoardWriter, truncateEventFiles } from './tensorboard.js';

/** One evaluation (eval.jsonl), for when the trainer evaluates. */
export interface EvalMetrics {
  step: number;
  eval_loss: number;
}

/**
 * DeepSpeed's engine names these three and puts them against `global_samples`. Ours are step n's
 * own values at n x global batch, like train/*; DeepSpeed's sit one global batch earlier (the
 * loss, written before the samples count advances) or hold step n+1's values (lr, loss scale,
 * read after the scheduler and scaler moved): docs/observe.md.
 */
const DS_PREFIX = 'Train/Samples/';

export const MEMORY_CATEGORIES = ['params', 'grads', 'master', 'optim', 'activations', 'buffers'] as const;

/** The scalars of one step: DeepSpeed's tag names (x = samples through this step), then ours (x = step). */
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
  /** Absolute paths of the files this run's earlier segments created: only these are cut back on a resume. */
  owned?: ReadonlySet<string>;
  /**
   * An output dir whose earlier segments predate the record of owned files: the files of monitor
   * dirs inside it count as owned (as they did then), and are claimed from now on.
   */
  ownedInside?: string | null;
  /** Hears of each file (absolute path) before it is created, so a later resume knows it as this run's. */
  claim?: (path: string) => void;
  log: (line: string) => void;
}

export class Monitors {
  private readonly tb: TensorBoardWriter | null = null;
  private readonly csv: CsvMonitor | null = null;

  constructor(private readonly o: MonitorOptions) {
    const claim = (path: string): void => o.claim?.(resolve(path));
    if (o.tensorboard.enabled) {
      const dir = monitorDir(o.tensorboard);
      this.prepare(dir, 'tensorboard', isEventFile, truncateEventFiles, () => true);
      this.tb = new TensorBoardWriter(dir, Date.now, claim);
      o.log(`tensorboard: writing ${this.tb.path}`);
    }
    if (o.csv.enabled) {
      const dir = monitorDir(o.csv);
      this.prepare(dir, 'csv_monitor', (f) => f.endsWith('.csv'), truncateCsvFiles, csvWrittenByOneRun);
      this.csv = new CsvMonitor(dir, claim);
      o.log(`csv_monitor: writing ${dir}`);
    }
    if (o.startStep > 0) {
      this.cutOwnedElsewhere(o.tensorboard.enabled ? resolve(monitorDir(o.tensorboard)) : null, o.csv.enabled ? resolve(monitorDir(o.csv)) : null);
    }
  }

  /**
   * The event files and CSVs earlier segments wrote where this segment writes no such file (a
   * monitor now off, or another job_name; `eventsDir` and `csvDir` are where it writes them, null
   * when off) are cut back at the resume step too: otherwise they would keep the steps the resume
   * threw away beside the ones it writes again elsewhere.
   */
  private cutOwnedElsewhere(eventsDir: string | null, csvDir: string | null): void {
    const { startStep, globalBatch, log } = this.o;
    const byDir = new Map<string, string[]>();
    for (const path of this.o.owned ?? []) {
      if (!existsSync(path)) continue;
      const dir = dirname(path);
      const names = byDir.get(dir) ?? [];
      names.push(basename(path));
      byDir.set(dir, names);
    }
    const keep = keepThrough(startStep, globalBatch);
    for (const [dir, names] of byDir) {
      const events = dir === eventsDir ? [] : names.filter(isEventFile).sort();
      const csvs = dir === csvDir ? [] : names.filter((f) => f.endsWith('.csv') && csvWrittenByOneRun(join(dir, f))).sort();
      for (const [what, cut] of [['tensorboard', truncateEventFiles(dir, keep, events)], ['csv_monitor', truncateCsvFiles(dir, keep, csvs)]] as const) {
        if (cut.length) log(`${what}: dropped scalars after step ${startStep} from ${cut.join(', ')} in ${dir} (written by an earlier segment; this one writes no such file there)`);
      }
    }
  }

  /**
   * A resumed run drops what its earlier segments wrote after the resume step (no step twice),
   * from the files it created (`owned`) and wrote alone (`alone`); any other file in the dir
   * (another run's under the same job_name) is left as it is, with a note. A fresh run leaves
   * files it finds alone and says so.
   */
  private prepare(dir: string, what: string, isFile: (name: string) => boolean,
    truncate: (dir: string, keep: KeepScalar, names: readonly string[]) => string[], alone: (path: string) => boolean): void {
    const { startStep, globalBatch, log } = this.o;
    const found = existsSync(dir) ? readdirSync(dir).filter(isFile).sort() : [];
    if (startStep > 0) {
      const outDir = this.o.ownedInside;
      const adopted = outDir != null && (resolve(dir) === resolve(outDir) || isInside(dir, outDir)) ? found.filter((f) => !this.o.owned?.has(resolve(dir, f))) : [];
      for (const f of adopted) this.o.claim?.(resolve(dir, f));
      const mine = found.filter((f) => (this.o.owned?.has(resolve(dir, f)) || adopted.includes(f)) && alone(join(dir, f)));
      const others = found.filter((f) => !mine.includes(f));
      const cut = truncate(dir, keepThrough(startStep, globalBatch), mine);
      if (cut.length) log(`${what}: dropped scalars after step ${startStep} from ${cut.join(', ')} in ${dir}`);
      if (others.length) {
        const names = others.length > 3 ? `${others.slice(0, 3).join(', ')} and ${others.length - 3} more` : others.join(', ');
        log(`note: ${what}: ${others.length} file(s) in ${dir} left as they are, not written by this run alone (another run's under the same job_name, or from before run.json recorded a run's files): ${names}`);
      }
      return;
    }
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
