// manifest.json of a dataset dir (DESIGN.md "Dataset dir"): what was built, from what, with
// which tokenizer and template, and per-source counts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BadReason } from './formats.js';
import type { ShardInfo } from './shards.js';
import type { AddedToken } from './added-tokens.js';
import type { SpecialIds, SpecialSources } from './tokenizer.js';

export interface AddedTokenRecord {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
  single_word: boolean;
}

/** The manifest's record of a tokenizer's added tokens. */
export function addedTokenRecords(tokens: readonly AddedToken[]): AddedTokenRecord[] {
  return tokens.map((t) => ({ content: t.content, id: t.id, lstrip: t.lstrip, rstrip: t.rstrip, single_word: t.singleWord }));
}

export const MANIFEST_FORMAT = 'telechat-dataset';
/**
 * Version 1 throughout: later additions are optional keys that older readers ignore (shard
 * `bytes`). Shard `sha256` is required: only builds older than it lack it, and those are
 * refused (they cannot be verified; rebuilding gives the same rows).
 */
export const MANIFEST_VERSION = 1;

export interface SourceStats {
  /** The file read (absolute). */
  path: string;
  /** "cwd": a mixing file's entry not found relative to the mixing file, read relative to the working directory. */
  relative_to?: 'cwd';
  weight: number;
  /** Non-blank lines in the file. */
  lines: number;
  /** Conversations read into the dataset (lines x weight, resampled). */
  conversations: number;
  kept: number;
  /** Kept after dropping oldest turns to fit max_seq_len. */
  truncated: number;
  /**
   * Too long even with only the system prompt and the last turn, or too long to keep any answer
   * that carries loss (what fits has only "weight": 0 answers; those are also in dropped_no_loss).
   */
  dropped: number;
  /** Of `dropped`: what fitted max_seq_len had no loss token (absent when none). */
  dropped_no_loss?: number;
  /** Bad lines skipped under --skip-bad, per reason. */
  skipped: Partial<Record<BadReason, number>>;
  /** Keys its lines carry that their format does not read (nor metadata), with the lines carrying each. */
  ignored_keys?: Record<string, number>;
  tokens: number;
  loss_tokens: number;
  /** Kept conversations moved into `val/` by --val-size (counted in kept/truncated above, not in tokens). */
  held_out?: number;
  /** Rows [start, end) holding this source's documents, when rows never mix sources (eval sets, val/). */
  row_ranges?: Array<[number, number]>;
}

/** What --val-size held out into `val/` (its own manifest has the details). */
export interface ValSplit {
  conversations: number;
  documents: number;
  rows: number;
  tokens: number;
  loss_tokens: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  format_version: number;
  created_by: string;
  tokenizer: {
    kind: 'sentencepiece' | 'tokenizers';
    dir: string;
    file: string;
    sha256: string;
    vocab_size: number;
    special_ids: SpecialIds;
    special_sources: SpecialSources;
    /**
     * The Hugging Face added tokens a tokenizer.model dir registers (tokenizer_config.json), split
     * out of every text as their ids ([] when none); absent in manifests written before it.
     */
    added_tokens?: AddedTokenRecord[];
  };
  template: string;
  input_format: string;
  loss_on: 'all' | 'last';
  max_seq_len: number;
  packed: boolean;
  seed: number;
  /** Stored rows (packed rows when packing). */
  rows: number;
  documents: number;
  tokens: number;
  loss_tokens: number;
  /** tokens / (rows x max_seq_len). */
  packing_efficiency: number;
  rows_per_batch: number;
  shards: ShardInfo[];
  sources: Record<string, SourceStats>;
  /**
   * --val-size as given (fraction or count) when the build held out a validation split. A count
   * N is rounded up to whole groups of identical conversations: `val.conversations` may exceed it.
   */
  val_size?: number;
  val?: ValSplit;
  /** "val" in the held-out split's own manifest. */
  split?: 'val';
}

/** Reads and checks a dataset dir's manifest. */
export function readManifest(dir: string): Manifest {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new Error(`${dir}: not a dataset directory (no manifest.json); build one with telechat-data build`);
  let m: Partial<Manifest>;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Partial<Manifest>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== MANIFEST_FORMAT) throw new Error(`${path}: key "format" must be "${MANIFEST_FORMAT}"`);
  if (m.format_version !== MANIFEST_VERSION) {
    throw new Error(`${path}: key "format_version" is ${m.format_version}; this version reads ${MANIFEST_VERSION}`);
  }
  for (const key of ['rows', 'tokens', 'max_seq_len', 'rows_per_batch'] as const) {
    if (typeof m[key] !== 'number') throw new Error(`${path}: key "${key}" must be a number`);
  }
  if (!Array.isArray(m.shards)) throw new Error(`${path}: key "shards" must be an array`);
  m.shards.forEach((sh: Partial<ShardInfo>, i) => checkShardEntry(path, dir, sh, i));
  const rows = m.shards.reduce((s, sh) => s + sh.rows, 0);
  if (rows !== m.rows) throw new Error(`${path}: shards hold ${rows} rows but key "rows" says ${m.rows}`);
  return m as Manifest;
}

function checkShardEntry(path: string, dir: string, sh: Partial<ShardInfo>, i: number): void {
  const where = `${path}: shards[${i}]`;
  if (typeof sh.file !== 'string' || !/^shard-\d{5}\.arrow$/.test(sh.file)) throw new Error(`${where}: key "file" must name a shard-NNNNN.arrow`);
  if (!Number.isInteger(sh.rows) || sh.rows! < 0) throw new Error(`${where} (${sh.file}): key "rows" must be a non-negative integer`);
  if (sh.sha256 === undefined) {
    throw new Error(
      `${where} (${sh.file}) has no sha256: the dataset was built by an early telechat-data and cannot be verified; ` +
        `rebuild ${dir} with telechat-data build`,
    );
  }
  if (typeof sh.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sh.sha256)) throw new Error(`${where} (${sh.file}): key "sha256" must be 64 hex digits`);
  if (sh.bytes !== undefined && (!Number.isInteger(sh.bytes) || sh.bytes < 0)) {
    throw new Error(`${where} (${sh.file}): key "bytes" must be a non-negative integer`);
  }
}
