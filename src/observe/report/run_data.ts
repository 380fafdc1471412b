// Everything the report shows, read from an output dir: metrics.jsonl, eval.jsonl,
// resolved-config.json, run.json, the dataset's manifest and one of its rows. A run that
// crashed or is still going is read as far as it got (a torn last line is left out).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest, type Manifest } from '../../data/manifest.js';
import { manifestTokenizer } from '../../data/inspect.js';
import { DatasetReader } from '../../data/reader.js';
import type { StepMetrics } from '../step_metrics.js';
import type { EvalMetrics } from '../monitors.js';
import { readRunFacts, type RunFacts } from '../run_info.js';
import { readJsonLineFile } from '../files.js';

/** A piece of a rendered training row: text, and whether its tokens carry loss. */
export interface RowPiece {
  text: string;
  loss: boolean;
  special: boolean;
}

export interface SampleRow {
  index: number;
  tokens: number;
  lossTokens: number;
  /** One list of pieces per document packed into the row. */
  documents: RowPiece[][];
}

export interface RunData {
  outDir: string;
  metrics: StepMetrics[];
  evals: EvalMetrics[];
  /** resolved-config.json as written (plain JSON), or null. */
  config: Record<string, unknown> | null;
  run: RunFacts | null;
  manifest: Manifest | null;
  sample: SampleRow | null;
  /** Notes on what could not be read (shown on the page, never fatal). */
  notes: string[];
  /**
   * The run finished: run.json records that its latest segment wrote final/ at the last logged
   * step (final/ alone may be left from an earlier segment of a resumed run).
   */
  finished: boolean;
  /** When metrics.jsonl was last written (ms since epoch), or null. */
  lastUpdate: number | null;
}

/** Checks one parsed line; returns why it is not a record, or null. */
export type RecordCheck = (v: unknown) => string | null;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown): string =>
  Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v === 'string' ? `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}` : `a ${typeof v}`;

type FieldType = 'step' | 'number' | 'numberOrNull';
const FIELD_TEXT: Record<FieldType, string> = { step: 'an integer >= 1', number: 'a number', numberOrNull: 'a number or null' };
const fieldOk = (type: FieldType, x: unknown): boolean =>
  type === 'step' ? Number.isInteger(x) && (x as number) >= 1 : type === 'number' ? typeof x === 'number' : x === null || typeof x === 'number';

/** A checker of an object's required keys (numberOrNull: JSON.stringify writes NaN and Infinity as null). */
function fields(what: string, spec: Record<string, FieldType>, more: (v: Record<string, unknown>) => string | null = () => null): RecordCheck {
  return (v) => {
    if (!isObject(v)) return `not ${what}: ${kindOf(v)}, not an object`;
    for (const [key, type] of Object.entries(spec)) {
      if (!(key in v)) return `not ${what}: "${key}" is missing`;
      if (!fieldOk(type, v[key])) return `"${key}" must be ${FIELD_TEXT[type]}, not ${kindOf(v[key])}`;
    }
    return more(v);
  };
}

/** A metrics.jsonl line: the fields the report reads (DESIGN.md "Files"). */
export const checkStepRecord: RecordCheck = fields(
  'a metrics record',
  { step: 'step', loss: 'numberOrNull', lr: 'numberOrNull', grad_norm: 'numberOrNull', tokens: 'number', step_time_s: 'number', tokens_per_s: 'numberOrNull', mfu: 'numberOrNull' },
  (v) => {
    if (v.mem !== undefined && (!isObject(v.mem) || Object.values(v.mem).some((b) => typeof b !== 'number'))) return '"mem" must be an object of byte counts';
    if (v.skipped !== undefined && typeof v.skipped !== 'string') return `"skipped" must be a string, not ${kindOf(v.skipped)}`;
    return null;
  },
);

/** An eval.jsonl line. */
export const checkEvalRecord: RecordCheck = fields('an eval record', { step: 'step', eval_loss: 'numberOrNull', eval_tokens: 'number' });

/**
 * JSON lines, each checked by `check`. A torn last line (a writer killed mid-line, or still
 * writing) is left out with a note; any other bad line is an error naming FILE:LINE.
 */
export function readJsonLines<T>(path: string, notes: string[], check: RecordCheck): T[] {
  if (!existsSync(path)) return [];
  const { lines, torn } = readJsonLineFile(path);
  if (torn !== null) notes.push(`${path}:${torn}: incomplete last line left out`);
  return lines.map(({ n, value }) => {
    // JSON.stringify writes NaN as null; the charts treat null as a gap
    const why = check(value);
    if (why !== null) throw new Error(`${path}:${n}: ${why}`);
    return value as T;
  });
}

/**
 * Whether the run finished. run.json is rewritten at the start of every segment and gets
 * finished_at only once that segment has written final/, so a crashed or running resume of a
 * run that finished before is not taken for finished. Without run.json, or with one from before
 * finished_at (no monitor_files either): final/ and the last logged step at the planned total.
 */
function runFinished(outDir: string, run: RunFacts | null, metrics: StepMetrics[], config: Record<string, unknown> | null): boolean {
  if (!existsSync(join(outDir, 'final'))) return false;
  const lastStep = metrics[metrics.length - 1]?.step ?? 0;
  // (a run.json without monitor_files is from a version before finished_at: the rule below)
  if (run && run.monitor_files !== undefined) return run.finished_at !== undefined && run.end_step === lastStep;
  const total = (config?.run as { total_steps?: unknown } | undefined)?.total_steps;
  return typeof total === 'number' && lastStep === total;
}

export async function readRunData(outDir: string): Promise<RunData> {
  if (!existsSync(outDir)) throw new Error(`${outDir}: no such output directory`);
  if (!statSync(outDir).isDirectory()) throw new Error(`${outDir}: a file, not an output directory (give the dir a run wrote, which holds metrics.jsonl)`);
  const metricsPath = join(outDir, 'metrics.jsonl');
  const configPath = join(outDir, 'resolved-config.json');
  if (!existsSync(metricsPath) && !existsSync(configPath)) {
    throw new Error(`${outDir}: not a training output directory (no metrics.jsonl or resolved-config.json)`);
  }
  const notes: string[] = [];
  const metrics = readJsonLines<StepMetrics>(metricsPath, notes, checkStepRecord);
  const evals = readJsonLines<EvalMetrics>(join(outDir, 'eval.jsonl'), notes, checkEvalRecord);
  let config: Record<string, unknown> | null = null;
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${configPath}: not valid JSON (${(e as Error).message})`);
    }
  }
  const run = readRunFacts(outDir);
  let manifest: Manifest | null = null;
  let sample: SampleRow | null = null;
  if (run) {
    try {
      manifest = readManifest(run.dataset_dir);
      sample = await readSampleRow(run.dataset_dir, manifest);
    } catch (e) {
      notes.push(`dataset ${run.dataset_dir}: ${(e as Error).message}`);
    }
  } else {
    notes.push(`${join(outDir, 'run.json')} is missing: model, device and dataset are unknown`);
  }
  return {
    outDir,
    metrics,
    evals,
    config,
    run,
    manifest,
    sample,
    notes,
    finished: runFinished(outDir, run, metrics, config),
    lastUpdate: existsSync(metricsPath) ? statSync(metricsPath).mtimeMs : null,
  };
}

/** Row 0, decoded run by run (same loss flag; each special id alone), like `telechat-data inspect`. */
async function readSampleRow(dir: string, manifest: Manifest): Promise<SampleRow | null> {
  if (manifest.rows === 0) return null;
  const reader = DatasetReader.open(dir);
  const tok = manifestTokenizer(manifest);
  try {
    const row = await reader.row(0);
    const specials = new Set(Object.values(tok?.special ?? {}));
    const documents: RowPiece[][] = [];
    let lossTokens = 0;
    let o = 0;
    for (const len of row.docLens) {
      const ids = row.inputIds.subarray(o, o + len);
      const labels = row.labels.subarray(o, o + len);
      const pieces: RowPiece[] = [];
      let i = 0;
      while (i < len) {
        const loss = labels[i] !== -100;
        let j = i + 1;
        if (!specials.has(ids[i]!)) while (j < len && (labels[j] !== -100) === loss && !specials.has(ids[j]!)) j++;
        const run = ids.subarray(i, j);
        lossTokens += loss ? j - i : 0;
        const special = specials.has(ids[i]!);
        const text = !tok ? Array.from(run).join(' ') + ' ' : special ? tok.idToPiece(ids[i]!) : await tok.decodeAsync(run);
        pieces.push({ text, loss, special });
        i = j;
      }
      documents.push(pieces);
      o += len;
    }
    return { index: 0, tokens: row.inputIds.length, lossTokens, documents };
  } finally {
    tok?.close();
    await reader.close();
  }
}
