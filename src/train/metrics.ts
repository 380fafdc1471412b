// metrics.jsonl (one object per optimizer step, rank 0 only, DESIGN.md) and train.log.
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeAll } from '../observe/files.js';
import type { StepMetrics } from '../observe/step_metrics.js';

export class MetricsWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }

  write(m: StepMetrics): void {
    // every byte or an error: write(2) returns short when the disk fills mid-line, and a line
    // continued by the next step's would be a damaged line in the middle of the file
    const buf = Buffer.from(JSON.stringify(m) + '\n', 'utf8');
    writeAll(this.fd, buf);
  }

  close(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

/** train.log (training.log_file, written by rank 0 only) plus an echo to the terminal. */
export class TrainLog {
  constructor(
    private readonly path: string,
    private readonly echo: (line: string) => void,
    private readonly writes: boolean,
  ) {
    // a log file in a sub-dir of the output dir ("logs/train.log") gets its dir
    if (writes) mkdirSync(dirname(path), { recursive: true });
  }

  line(text: string): void {
    this.record(text);
    this.echo(text);
  }

  /** Into train.log only: a line the terminal has already shown (what prepareRun said). */
  record(text: string): void {
    if (this.writes) appendFileSync(this.path, `${new Date().toISOString()} ${text}\n`);
  }
}

export function formatStepLine(m: StepMetrics, total: number): string {
  const parts = [
    `step ${m.step}/${total}`,
    `loss ${m.loss.toFixed(4)}`,
    `lr ${m.lr.toExponential(3)}`,
    `grad_norm ${Number.isFinite(m.grad_norm) ? m.grad_norm.toFixed(3) : m.grad_norm}`,
    `${m.tokens_per_s.toFixed(0)} tok/s`,
    `mfu ${(100 * m.mfu).toFixed(1)}%`,
  ];
  if (m.loss_scale !== 1) parts.push(`loss_scale ${m.loss_scale}`);
  if (m.skipped) parts.push(`skipped (${m.skipped})`);
  return parts.join('  ');
}
