// Held-out evaluation (DESIGN.md "Evaluation"): the loss of the current weights over every
// label token of the eval set, forward only. Each rank takes a fixed shard of the eval rows
// (the same micro-batch slicing as training, so no row is counted twice or skipped), and the
// loss sums and label counts are all-reduced, so the result does not depend on world size
// beyond summation order. Rows are grouped by source when the eval set records per-source
// row ranges (--eval-data builds and val/ splits do), which gives per_source losses.
import { appendFileSync } from 'node:fs';
import type { DatasetReader } from '../data/reader.js';
import { buildHostBatch, type HostBatch, IGNORE_INDEX } from '../model/batch.js';
import type { LossResult } from '../model/model.js';
import type { ZeroEngine } from '../zero/zero_engine.js';

/** What evaluation needs of the engine (ZeroEngine) and of the eval set (DatasetReader). */
export type EvalEngine = Pick<ZeroEngine, 'worldSize' | 'rankIndex' | 'stage' | 'allReduceSum'> & { evalLoss(batch: HostBatch): LossResult };
export type EvalRows = Pick<DatasetReader, 'manifest' | 'numRows' | 'rows' | 'dir'>;

/** One line of eval.jsonl. */
export interface EvalRecord {
  /** Evaluated on the weights after this many optimizer steps. */
  step: number;
  /** Summed token cross-entropy over every label token of the eval set / their number. */
  eval_loss: number;
  eval_tokens: number;
  eval_ppl: number;
  per_source: Record<string, number>;
}

interface Group {
  /** Source name, or null when the set records no per-source rows. */
  source: string | null;
  rows: number[];
}

/** The eval rows grouped by source (row_ranges), else one group of every row. */
export function evalGroups(reader: EvalRows): Group[] {
  const sources = Object.entries(reader.manifest.sources);
  const all = Array.from({ length: reader.numRows }, (_, i) => i);
  if (sources.length === 0 || sources.some(([, s]) => s.row_ranges === undefined)) return [{ source: sources.length === 1 ? sources[0]![0] : null, rows: all }];
  const groups = sources.map(([name, s]): Group => ({ source: name, rows: s.row_ranges!.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)) }));
  const covered = groups.reduce((n, g) => n + g.rows.length, 0);
  if (covered !== reader.numRows) throw new Error(`${reader.dir}/manifest.json: the sources' row_ranges cover ${covered} rows, the set has ${reader.numRows}`);
  return groups.filter((g) => g.rows.length > 0);
}

/** A row with no label: what a rank without rows runs at stage 3, so the collective gathers still pair up. */
const EMPTY_ROW = { inputIds: [0], labels: [IGNORE_INDEX], docLens: [1] };

export class Evaluator {
  private readonly groups: Group[];

  constructor(
    private readonly reader: EvalRows,
    private readonly engine: EvalEngine,
    private readonly microBatch: number,
  ) {
    this.groups = evalGroups(reader);
  }

  /** Every rank calls this after optimizer step `step`; every rank gets the same result. */
  async evaluate(step: number): Promise<EvalRecord> {
    const { engine, microBatch: b } = this;
    const W = engine.worldSize;
    const r = engine.rankIndex;
    let lossSum = 0;
    let count = 0;
    const perSource: Record<string, number> = {};
    for (const g of this.groups) {
      let gLoss = 0;
      let gCount = 0;
      // global micro-batches of W * b rows; rank r takes the sub-slice [r*b, (r+1)*b)
      for (let start = 0; start < g.rows.length; start += W * b) {
        const mine = g.rows.slice(start + r * b, Math.min(start + (r + 1) * b, g.rows.length));
        if (mine.length === 0 && engine.stage !== 3) continue;
        const batch = buildHostBatch(mine.length ? await this.reader.rows(mine) : [EMPTY_ROW]);
        const res = engine.evalLoss(batch);
        gLoss += res.lossSum;
        gCount += res.count;
      }
      gLoss = engine.allReduceSum(gLoss);
      gCount = engine.allReduceSum(gCount);
      if (g.source !== null && gCount > 0) perSource[g.source] = gLoss / gCount;
      lossSum += gLoss;
      count += gCount;
    }
    if (count === 0) throw new Error(`eval set ${this.reader.dir}: no label tokens: there is nothing to evaluate`);
    const loss = lossSum / count;
    return { step, eval_loss: loss, eval_tokens: count, eval_ppl: Math.exp(loss), per_source: perSource };
  }
}

/** training.eval_steps as the run uses it: null = save_steps; 0 = only after the last step. */
export function evalEvery(t: { eval_steps: number | null; save_steps: number }): number {
  return t.eval_steps ?? t.save_steps;
}

/**
 * Why training.early_stopping_patience can never stop this run early, or null when it can: a stop
 * before the last step needs at least `patience` evaluations before it (each one without
 * improvement), and the schedule may hold fewer (eval_steps 0, or not below the run's steps).
 */
export function idlePatience(t: { eval_steps: number | null; save_steps: number; early_stopping_patience: number | null }, totalSteps: number | null): string | null {
  const p = t.early_stopping_patience;
  if (p === null || totalSteps === null) return null;
  const every = evalEvery(t);
  const before = every > 0 ? Math.floor((totalSteps - 1) / every) : 0;
  if (before >= p) return null;
  const schedule = t.eval_steps !== null ? `training.eval_steps ${t.eval_steps}` : `training.save_steps ${t.save_steps} as eval_steps`;
  return `"training.early_stopping_patience": ${p} has no effect: the run evaluates ${before} time${before === 1 ? '' : 's'} before its last step (${totalSteps} steps, ${schedule}), so it can never stop early`;
}

/** Best eval loss and patience, saved in trainer_state.json so a resume keeps them. */
export interface EvalState {
  best_step: number | null;
  best_loss: number | null;
  /** Evaluations since the last improvement (early stopping counts these). */
  evals_without_improvement: number;
  /**
   * The eval set these were measured on (its rows, tokens and shard checksums, as the training
   * data's identity); absent in checkpoints of earlier versions. Losses of another set do not compare.
   */
  set?: EvalSetIdentity;
}

export interface EvalSetIdentity {
  rows: number;
  tokens: number;
  shards: string[];
}

export function evalSetIdentity(reader: Pick<DatasetReader, 'manifest'>): EvalSetIdentity {
  const m = reader.manifest;
  return { rows: m.rows, tokens: m.tokens, shards: m.shards.map((s) => s.sha256) };
}

/**
 * Why a resumed eval state does not carry over to this eval set, or null when it does (the same
 * set, or a checkpoint that did not record its set): a line for the log, naming both sets.
 */
export function otherEvalSet(saved: EvalState, now: EvalSetIdentity, where: string): string | null {
  const then = saved.set;
  if (then === undefined || JSON.stringify(then) === JSON.stringify(now)) return null;
  const best = typeof saved.best_loss === 'number' && saved.best_step != null ? `its best eval loss ${saved.best_loss.toFixed(4)} at step ${saved.best_step}` : 'its eval state';
  return `eval set ${where}: it is not the one the resumed checkpoint's eval state was measured on (${then.rows} rows, ${then.tokens} tokens then; ${now.rows} rows, ${now.tokens} tokens now): ` +
    `${best} and patience count do not compare with this set's losses, so both start over`;
}

export interface EvalLoopOptions {
  /** Evaluate every N steps and after the last; 0 = only after the last. */
  everySteps: number;
  patience: number | null;
  /** Rank 0: eval.jsonl's path; other ranks: null. */
  jsonlPath: string | null;
  log: (line: string) => void;
  /** The progress bar and monitors (rank 0). */
  onRecord: (r: EvalRecord) => void;
}

export interface EvalOutcome {
  record: EvalRecord;
  improved: boolean;
  /** Set when early stopping ends the run here: the reason, for the log. */
  stop: string | null;
}

/** The evaluation schedule, eval.jsonl, and best / early-stopping bookkeeping. */
export class EvalLoop {
  state: EvalState = { best_step: null, best_loss: null, evals_without_improvement: 0 };

  constructor(
    private readonly evaluator: Pick<Evaluator, 'evaluate'>,
    private readonly o: EvalLoopOptions,
  ) {}

  /**
   * A resumed trainer_state's eval state. A best without a finite loss (an earlier version let a
   * NaN evaluation become best, saved as null) is no best at all.
   */
  restore(saved: EvalState): void {
    const finite = typeof saved.best_loss === 'number' && Number.isFinite(saved.best_loss) && saved.best_step != null;
    this.state = { ...saved, ...(finite ? {} : { best_step: null, best_loss: null }) };
  }

  due(step: number, totalSteps: number): boolean {
    return step === totalSteps || (this.o.everySteps > 0 && step % this.o.everySteps === 0);
  }

  async run(step: number): Promise<EvalOutcome> {
    const t0 = Date.now();
    const record = await this.evaluator.evaluate(step);
    const s = this.state;
    // a non-finite loss (diverged weights) is never an improvement: it counts against patience
    const improved = Number.isFinite(record.eval_loss) && (s.best_loss === null || record.eval_loss < s.best_loss);
    if (improved) this.state = { best_step: step, best_loss: record.eval_loss, evals_without_improvement: 0 };
    else s.evals_without_improvement++;
    if (this.o.jsonlPath) appendFileSync(this.o.jsonlPath, JSON.stringify(record) + '\n');
    // before the log line: the progress bar drawn again under it shows this evaluation's loss
    this.o.onRecord(record);
    const sources = Object.entries(record.per_source);
    this.o.log(
      `eval step ${step}: eval_loss ${record.eval_loss.toFixed(4)} (ppl ${record.eval_ppl.toFixed(2)}, ${record.eval_tokens} tokens, ${((Date.now() - t0) / 1000).toFixed(1)}s)` +
        (sources.length > 1 ? `; ${sources.map(([n, l]) => `${n} ${l.toFixed(4)}`).join(', ')}` : '') +
        (improved ? '; best so far' : `; ${this.bestText()}`),
    );
    const p = this.o.patience;
    const stop =
      p !== null && this.state.evals_without_improvement >= p
        ? `early stopping: eval loss has not improved for ${p} evaluation(s) (training.early_stopping_patience ${p}); ${this.bestText()}`
        : null;
    return { record, improved, stop };
  }

  private bestText(): string {
    const { best_loss: loss, best_step: step } = this.state;
    return loss === null ? 'no finite eval loss yet' : `best ${loss.toFixed(4)} at step ${step}`;
  }
}
