// run.json: the facts of a run segment that the config does not hold (model shape, device,
// where the dataset is), written by rank 0 when training starts, so `telechat-report` can
// describe a run that crashed or is still going.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { isInside } from '../checkpoint/output_path.js';
import { writeFileAtomic } from './files.js';

export interface RunFacts {
  format: 'telechat-run';
  layout: string;
  /** The model's parameters (a LoRA run's frozen base). */
  parameters: number;
  /** A LoRA run: its adapters over the base (absent: full fine-tuning). */
  lora?: { r: number; alpha: number; target_modules: string[]; trainable_parameters: number };
  precision: string;
  zero_stage: number;
  world_size: number;
  device: string;
  /**
   * The dataset dir the run reads (built from raw data when --data was .jsonl, under the output
   * dir's data/). In run.json relative to the output dir when inside it, as monitor_files, so a
   * moved or copied output dir still finds it; readRunFacts gives it resolved.
   */
  dataset_dir: string;
  total_steps: number;
  train_batch_size: number;
  /** This segment: when it started (ISO time) and after which step (0 = fresh). */
  started_at: string;
  start_step: number;
  /**
   * The TensorBoard and CSV files this output dir's run created, over all its segments: a resume
   * cuts back only these (a shared job dir may hold another run's files). Paths inside the output
   * dir are relative to it (the dir may be moved or reached through a link), others absolute.
   * Absent in run.json of versions before it: see RunObserver.
   */
  monitor_files?: string[];
  /** Set when this segment finished (final/ written): when (ISO time), and at which step. */
  finished_at?: string;
  end_step?: number;
}

export const RUN_FACTS_FILE = 'run.json';

export function writeRunFacts(outDir: string, info: Omit<RunFacts, 'format'>): void {
  const dataset = isInside(info.dataset_dir, outDir) ? relative(resolve(outDir), resolve(info.dataset_dir)) : resolve(info.dataset_dir);
  writeFileAtomic(join(outDir, RUN_FACTS_FILE), JSON.stringify({ format: 'telechat-run', ...info, dataset_dir: dataset }, null, 2) + '\n');
}

/** run.json of an output dir, or null when the run predates it. */
export function readRunFacts(outDir: string): RunFacts | null {
  const path = join(outDir, RUN_FACTS_FILE);
  if (!existsSync(path)) return null;
  let v: Partial<RunFacts>;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunFacts>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (v.format !== 'telechat-run') throw new Error(`${path}: key "format" must be "telechat-run"`);
  // relative: inside the output dir (absolute in run.json of earlier versions, kept as is)
  return (typeof v.dataset_dir === 'string' ? { ...v, dataset_dir: resolve(outDir, v.dataset_dir) } : v) as RunFacts;
}
