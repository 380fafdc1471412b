// What rank 0 does beside metrics.jsonl: run.json at the start, TensorBoard / CSV scalars every
// step, report.html at the end (also when the run fails). The trainer's one hook.
import type { ResolvedConfig } from '../config/index.js';
import type { StepMetrics } from './step_metrics.js';
import { Monitors, type EvalMetrics } from './monitors.js';
import { writeReport } from './report/index.js';
import { writeRunFacts, type RunFacts } from './run_info.js';

export interface ObserverOptions {
  config: ResolvedConfig;
  /** Facts of this segment for run.json (format and time are filled here). */
  run: Omit<RunFacts, 'format' | 'started_at'>;
  log: (line: string) => void;
}

export class RunObserver {
  private readonly monitors: Monitors;

  constructor(private readonly o: ObserverOptions) {
    const outDir = o.config.training.output_dir;
    writeRunFacts(outDir, { ...o.run, started_at: new Date().toISOString() });
    this.monitors = new Monitors({
      tensorboard: o.config.tensorboard,
      csv: o.config.csv_monitor,
      globalBatch: o.config.train_batch_size,
      startStep: o.run.start_step,
      log: o.log,
    });
  }

  onStep(m: StepMetrics): void {
    this.monitors.onStep(m);
  }

  /** For the evaluation loop: after each eval.jsonl line. */
  onEval(e: EvalMetrics): void {
    this.monitors.onEval(e);
  }

  /** Closes the monitors and writes report.html; a report that fails is a warning, never the run's error. */
  async finish(): Promise<void> {
    this.monitors.close();
    try {
      const path = await writeReport(this.o.config.training.output_dir);
      this.o.log(`report: ${path}`);
    } catch (e) {
      this.o.log(`warning: report.html not written: ${(e as Error).message}`);
    }
  }
}
