// What rank 0 does beside metrics.jsonl: run.json at the start, TensorBoard / CSV scalars every
// step, report.html at the end (also when the run fails). The trainer's one hook.
import { relative, resolve } from 'node:path';
import { isInside } from '../checkpoint/output_path.js';
import type { ResolvedConfig } from '../config/index.js';
import type { StepMetrics } from './step_metrics.js';
import { Monitors, type EvalMetrics } from './monitors.js';
import { writeReport } from './report/index.js';
import { readRunFacts, writeRunFacts, type RunFacts } from './run_info.js';

export interface ObserverOptions {
  config: ResolvedConfig;
  /** Facts of this segment for run.json (format and time are filled here). */
  run: Omit<RunFacts, 'format' | 'started_at' | 'monitor_files' | 'finished_at' | 'end_step'>;
  log: (line: string) => void;
}

export class RunObserver {
  private readonly monitors: Monitors;
  private readonly facts: Omit<RunFacts, 'format'> & { monitor_files: string[] };
  private readonly outDir: string;

  constructor(private readonly o: ObserverOptions) {
    this.outDir = o.config.training.output_dir;
    const earlier = o.run.start_step > 0 ? this.earlierMonitorFiles() : { files: [], legacy: false };
    this.facts = { ...o.run, started_at: new Date().toISOString(), monitor_files: [...earlier.files] };
    writeRunFacts(this.outDir, this.facts);
    this.monitors = new Monitors({
      tensorboard: o.config.tensorboard,
      csv: o.config.csv_monitor,
      globalBatch: o.config.train_batch_size,
      startStep: o.run.start_step,
      owned: new Set(earlier.files.map((f) => resolve(this.outDir, f))),
      // a run from before monitor_files: its files inside the output dir are its own (the rule then)
      ownedInside: earlier.legacy ? this.outDir : null,
      // recorded before the file exists: a crash in between leaves a name, never an unowned file of ours
      claim: (path) => {
        this.facts.monitor_files.push(this.recorded(path));
        writeRunFacts(this.outDir, this.facts);
      },
      log: o.log,
    });
  }

  /** How monitor_files records a path: relative to the output dir when inside it, else absolute. */
  private recorded(path: string): string {
    return isInside(path, this.outDir) ? relative(resolve(this.outDir), path) : path;
  }

  /**
   * The monitor files the earlier segments' run.json records (a resume continues that list);
   * legacy: a run.json from before the list (or none), whose run owned its dirs' files.
   */
  private earlierMonitorFiles(): { files: string[]; legacy: boolean } {
    try {
      const facts = readRunFacts(this.outDir);
      const files = facts?.monitor_files;
      if (!Array.isArray(files)) return { files: [], legacy: true };
      return { files: files.filter((f): f is string => typeof f === 'string'), legacy: false };
    } catch (e) {
      this.o.log(`warning: ${(e as Error).message}; monitor files of earlier segments are left as they are`);
      return { files: [], legacy: false };
    }
  }

  onStep(m: StepMetrics): void {
    this.monitors.onStep(m);
  }

  /** For the evaluation loop: after each eval.jsonl line. */
  onEval(e: EvalMetrics): void {
    this.monitors.onEval(e);
  }

  /** After final/ is written: run.json records that this segment finished (the report's status). */
  finished(step: number): void {
    Object.assign(this.facts, { finished_at: new Date().toISOString(), end_step: step });
    writeRunFacts(this.outDir, this.facts);
  }

  /** Closes the monitors and writes report.html; a report that fails is a warning, never the run's error. */
  async finish(): Promise<void> {
    this.monitors.close();
    try {
      const path = await writeReport(this.outDir);
      this.o.log(`report: ${path}`);
    } catch (e) {
      this.o.log(`warning: report.html not written: ${(e as Error).message}`);
    }
  }
}
