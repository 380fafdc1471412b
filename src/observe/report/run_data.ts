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
  /** final/ exists: the run finished. */
  finished: boolean;
  /** When metrics.jsonl was last written (ms since epoch), or null. */
  lastUpdate: number | null;
}

/** JSON lines; a torn last line (a writer killed mid-line, or still writing) is dropped. */
export function readJsonLines<T>(path: string, notes: string[]): T[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      // JSON.stringify writes NaN as null; the charts treat null as a gap
      out.push(JSON.parse(line) as T);
    } catch {
      const last = lines.slice(i + 1).every((l) => l.trim() === '');
      if (last) notes.push(`${path}:${i + 1}: incomplete last line left out`);
      else throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
  });
  return out;
}

export async function readRunData(outDir: string): Promise<RunData> {
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) throw new Error(`${outDir}: no such output directory`);
  const metricsPath = join(outDir, 'metrics.jsonl');
  const configPath = join(outDir, 'resolved-config.json');
  if (!existsSync(metricsPath) && !existsSync(configPath)) {
    throw new Error(`${outDir}: not a training output directory (no metrics.jsonl or resolved-config.json)`);
  }
  const notes: string[] = [];
  const metrics = readJsonLines<StepMetrics>(metricsPath, notes);
  const evals = readJsonLines<EvalMetrics>(join(outDir, 'eval.jsonl'), notes);
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
    finished: existsSync(join(outDir, 'final')),
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
