// What rank 0 does beside metrics.jsonl: run.json at the start, TensorBoard / CSV scalars every
// step, report.html at the end (also when the run fails). The trainer's one hook.
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
    const earlier = o.run.start_step > 0 ? this.earlierMonitorFiles() : [];
    this.facts = { ...o.run, started_at: new Date().toISOString(), monitor_files: [...earlier] };
    writeRunFacts(this.outDir, this.facts);
    this.monitors = new Monitors({
      tensorboard: o.config.tensorboard,
      csv: o.config.csv_monitor,
      globalBatch: o.config.train_batch_size,
      startStep: o.run.start_step,
      owned: new Set(earlier),
      // recorded before the file exists: a crash in between leaves a name, never an unowned file of ours
      claim: (path) => {
        this.facts.monitor_files.push(path);
        writeRunFacts(this.outDir, this.facts);
      },
      log: o.log,
    });
  }

  /** The monitor files the earlier segments' run.json records (a resume continues that list). */
  private earlierMonitorFiles(): string[] {
    try {
      const files = readRunFacts(this.outDir)?.monitor_files;
      return Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string') : [];
    } catch (e) {
      this.o.log(`warning: ${(e as Error).message}; monitor files of earlier segments are left as they are`);
      return [];
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
