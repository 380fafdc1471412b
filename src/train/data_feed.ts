// The trainer's view of its data: a dataset dir built by telechat-data, or raw .jsonl / a
// mixing .json, which is built on the fly with the model's tokenizer into the output dir
// (DESIGN.md). Rows are read per step by the world-size-independent sampler.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FORMATS } from '../data/formats.js';
import { sourceLine, sourceNotes } from '../data/inspect.js';
import type { Manifest } from '../data/manifest.js';
import { DatasetReader } from '../data/reader.js';
import { resolveDataset } from '../data/resolve.js';
import { Sampler } from '../data/sampler.js';
import { inputNames } from '../data/sources.js';
import { TEMPLATES } from '../data/templates.js';
import { buildHostBatch, type HostBatch } from '../model/batch.js';

export interface DataOptions {
  /** Dataset dir, or .jsonl file(s) (comma-separated) / mixing .json. */
  path: string;
  /** Where the tokenizer (and optionally config.json naming the template) lives. */
  tokenizerDir: string;
  /** The model's embedding rows: every token id read must lie below (src/data/verify.ts). */
  vocab: number;
  maxSeqLen: number;
  seed: number;
  /** Directory for an on-the-fly build. */
  buildDir: string;
  template?: string | null;
  format?: string | null;
  lossOn?: 'all' | 'last';
  pack?: boolean;
  skipBad?: boolean;
  /** data.val_size for a raw build (errors name that key). */
  valSize?: number;
  /** Rows never mix sources (eval sets: per-source loss). */
  perSourceRows?: boolean;
  /** The option that named the data, for errors. */
  what?: string;
  /** Only open rank 0's build of raw data (resolve.ts); the text says who is reading. */
  openOnly?: string;
}

export function isDatasetDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'manifest.json'));
}

/**
 * Opens the dataset. A dataset dir is checked against the model's tokenizer (its max_seq_len and
 * build options against the config by config/resolve.ts), its shards against their manifest
 * checksums (rows are checked as they are read);
 * raw conversations are built once into a cache under `buildDir` keyed by the inputs and
 * every build option (src/data/resolve.ts), so reruns and resumes read the same rows.
 */
export async function openDataset(opts: DataOptions, log: (line: string) => void): Promise<DatasetReader> {
  if (!isDatasetDir(opts.path)) {
    if (existsSync(opts.path) && statSync(opts.path).isDirectory()) {
      throw new Error(`${opts.what ? opts.what + ' ' : ''}${opts.path}: not a dataset directory (no manifest.json); build one with telechat-data build, or pass a .jsonl file`);
    }
    for (const p of inputNames(opts.path)) if (!existsSync(p)) throw new Error(`${opts.what ?? '--data'}: ${p} does not exist`);
  }
  const resolved = await resolveDataset({
    data: opts.path,
    tokenizerDir: opts.tokenizerDir,
    modelDir: opts.tokenizerDir,
    maxSeqLen: opts.maxSeqLen,
    cacheDir: opts.buildDir,
    template: oneOf(opts.template, TEMPLATES, 'data.template'),
    format: oneOf(opts.format, ['auto', ...FORMATS] as const, 'data.format'),
    lossOn: opts.lossOn,
    pack: opts.pack,
    skipBad: opts.skipBad,
    seed: opts.seed,
    valSize: opts.valSize,
    valSizeKey: 'data.val_size', // the trainer's split comes from the config, not telechat-data's flag
    perSourceRows: opts.perSourceRows,
    what: opts.what,
    openOnly: opts.openOnly,
  });
  const m = resolved.manifest;
  if (resolved.built) log(`data: built ${opts.path} -> ${resolved.dir}`);
  log(`data: ${m.rows} rows, ${m.tokens} tokens (${m.loss_tokens} with loss), packing ${(100 * m.packing_efficiency).toFixed(1)}%`);
  for (const [name, st] of Object.entries(m.sources)) {
    // what became of each raw source's conversations, as telechat-data build prints it: a dropped
    // or truncated conversation is training data the run does not see
    if (resolved.built) log(`data: ${sourceLine(name, st)}`);
    const skipped = Object.entries(st.skipped);
    if (skipped.length > 0) log(`note: source ${name}: skipped ${skipped.reduce((n, [, k]) => n + (k ?? 0), 0)} bad line(s) (data.skip_bad): ${skipped.map(([r, k]) => `${r} ${k}`).join(', ')}`);
    for (const note of sourceNotes(name, st)) log(note);
  }
  return DatasetReader.open(resolved.dir, { vocab: opts.vocab });
}

function oneOf<T extends string>(value: string | null | undefined, allowed: readonly T[], key: string): T | undefined {
  if (value === null || value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`${key}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

export interface StepBatches {
  /** One host batch per micro-step of this rank. */
  micro: HostBatch[];
  /** Tokens and label tokens of this rank's share of the global batch. */
  tokens: number;
  labelTokens: number;
  docLens: number[];
}

/** Reads this rank's micro-batches of optimizer step `step` (0-based, across epochs). */
export async function loadStep(reader: DatasetReader, sampler: Sampler, step: number, rank: number): Promise<StepBatches> {
  const micro: HostBatch[] = [];
  let tokens = 0;
  let labelTokens = 0;
  const docLens: number[] = [];
  const { worldSize, microBatch } = sampler.cfg;
  for (let m = 0; m < sampler.cfg.gradAccum; m++) {
    const rows = await reader.rows(sampler.microBatchRows(step, rank, m));
    const batch = buildHostBatch(rows);
    // the rows' places in the global batch (sampler.ts: sub-slice (m*W + r)*b), which seed dropout
    const first = (m * worldSize + rank) * microBatch;
    batch.origin = { step: step + 1, rows: Int32Array.from(rows, (_, i) => first + i) };
    micro.push(batch);
    tokens += batch.tokens;
    labelTokens += batch.labelCount;
    for (const r of rows) docLens.push(...r.docLens);
  }
  return { micro, tokens, labelTokens, docLens };
}

export function datasetSummary(m: Manifest): string {
  return `${m.rows} rows, ${m.tokens} tokens, max_seq_len ${m.max_seq_len}, template ${m.template}`;
}
