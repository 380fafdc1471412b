// Where conversations come from: a list of files (weight 1 each; jsonl, or a JSON array of
// conversations as LLaMA-Factory's .json datasets are) or a mixing file
// `{"a.jsonl": 2.0, "b.jsonl": 0.5}` (paths relative to the mixing file; a path not found there
// is looked up from the working directory, as TeleChat2's own mixing files need). A weight w means
// floor(w) full copies of the file plus a seeded random subset of round(frac(w) * records)
// records, drawn without replacement: TeleChat's fractional resampling.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { isInside } from '../checkpoint/output_path.js';
import { findDuplicateKey } from '../config/json_file.js';

import { isBlank, type RawLine } from './jsonl.js';
import { countRecords, isArrayDataset, readRecords } from './records.js';
import { Rng, permutation } from './rng.js';

export interface Source {
  /** The path as the user wrote it (manifest key); in a mixing file, relative to that file. */
  name: string;
  path: string;
  weight: number;
  /** The path for error messages, openable from the current directory: as written, or (from a mixing file) resolved. */
  display: string;
  /** A mixing file's entry not found next to the mixing file, found from the working directory instead. */
  fromCwd?: true;
}

/** A path as the user can open it from the current directory: relative when below it, else absolute. */
function displayPath(path: string): string {
  return isInside(path, process.cwd()) ? relative(process.cwd(), resolve(path)) : resolve(path);
}

/** `FILE:LINE:COL` of a character offset in a text (1-based, columns in characters). */
function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

/** Keys that mark a conversation line (formats.ts): a .json file holding one is jsonl, not a mixing file. */
const CONVERSATION_KEYS = ['dialog', 'messages', 'conversations', 'instruction', 'input', 'output'];

/** For a .json that does not parse: when its first line is a JSON object on its own, the file is jsonl. */
function jsonlHint(text: string): string {
  const first = text.split('\n', 1)[0]!.trim();
  try {
    const v: unknown = JSON.parse(first);
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && text.trim() !== first) {
      return '; its first line is a JSON object on its own, so it looks like jsonl (one conversation per line): name it .jsonl';
    }
  } catch {
    // not jsonl either
  }
  return '';
}

/** The names in a comma-separated input list (--input, --data, --eval-data), trimmed; an empty one (a trailing comma) is no name. */
export function inputNames(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

export function parseInputs(input: string): Source[] {
  const items = inputNames(input);
  if (items.length === 0) throw new Error('--input: no file given');
  // a .json is a mixing file (an object), unless it is a dataset itself: LLaMA-Factory's files are a
  // JSON array of conversations
  if (items.length === 1 && items[0]!.endsWith('.json') && !(existsSync(items[0]!) && statSync(items[0]!).isFile() && isArrayDataset(items[0]!))) {
    return readMixFile(items[0]!);
  }
  return items.map((name) => {
    checkFile(name, name);
    return { name, path: resolve(name), weight: 1, display: name };
  });
}

function checkFile(name: string, where: string): void {
  if (!existsSync(name)) throw new Error(`${where}: input file ${name} does not exist`);
  if (!statSync(name).isFile()) throw new Error(`${where}: input ${name} is not a file`);
}

function readMixFile(mixPath: string): Source[] {
  checkFile(mixPath, mixPath);
  let value: unknown;
  const text = readFileSync(mixPath, 'utf8').replace(/^\uFEFF/, '');
  try {
    value = JSON.parse(text);
  } catch (e) {
    // "... in JSON at position 25 (line 3 column 1)" -> MIX.json:3:1: ...
    const msg = (e as Error).message;
    const pos = /at position (\d+)/.exec(msg) ?? (/end of JSON/.test(msg) ? ['', String(text.length)] : null);
    const reason = msg.replace(/\s*in JSON at position \d+( \(line \d+ column \d+\))?/, '');
    if (pos) {
      const { line, col } = lineCol(text, Number(pos[1]));
      throw new Error(`${mixPath}:${line}:${col}: the mixing file is not valid JSON (${reason})${jsonlHint(text)}`);
    }
    throw new Error(`${mixPath}: the mixing file is not valid JSON (${reason})${jsonlHint(text)}`);
  }
  if (typeof value !== 'object' || value === null) {
    throw new Error(`${mixPath}: a mixing file must be an object {"file.jsonl": weight, ...}`);
  }
  // JSON.parse keeps the last of two equal keys, so the first weight would be dropped silently
  const dup = findDuplicateKey(text);
  if (dup !== null) {
    const at = lineCol(text, dup.offset);
    const first = lineCol(text, dup.first);
    throw new Error(`${mixPath}:${at.line}:${at.col}: "${dup.key}" is given twice (first at ${first.line}:${first.col}); ` +
      'give each file once, with the sum of its weights if that is what you meant');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw new Error(`${mixPath}: the mixing file names no input`);
  const conversationKey = CONVERSATION_KEYS.find((k) => k in value && typeof (value as Record<string, unknown>)[k] !== 'number');
  if (conversationKey !== undefined) {
    throw new Error(
      `${mixPath}: a conversation (it has "${conversationKey}"), not a mixing file {"file.jsonl": weight, ...}: ` +
        'give conversations in a .jsonl file, one per line',
    );
  }
  return entries.map(([name, w]) => {
    if (typeof w === 'object' && w !== null && !Array.isArray(w) && 'file_name' in w) {
      throw new Error(
        `${mixPath}: key "${name}": {"file_name": ...} is a LLaMA-Factory dataset_info.json entry, not a weight; ` +
          'give the dataset files themselves (as jsonl) to --input, or a mixing file {"file.jsonl": weight, ...}',
      );
    }
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) {
      throw new Error(`${mixPath}: key "${name}": weight must be a positive number, got ${JSON.stringify(w)}`);
    }
    // Relative to the mixing file first; a path that does not exist there but does from the
    // working directory is taken from there (TeleChat2's sft_data_config.json lists
    // "./dummy_data/sft/x.jsonl", relative to deepspeed/ where its scripts run). An absolute
    // path is the same either way.
    const besideMix = resolve(dirname(mixPath), name);
    const fromCwd = resolve(name);
    if (!existsSync(besideMix) && fromCwd !== besideMix && existsSync(fromCwd)) {
      checkFile(fromCwd, `${mixPath}: key "${name}"`);
      return { name, path: fromCwd, weight: w, display: displayPath(fromCwd), fromCwd: true };
    }
    if (!existsSync(besideMix) && fromCwd !== besideMix) {
      throw new Error(
        `${mixPath}: key "${name}": input file not found: neither ${displayPath(besideMix)} (relative to the mixing file) ` +
          `nor ${displayPath(fromCwd)} (relative to the working directory) exists`,
      );
    }
    checkFile(besideMix, `${mixPath}: key "${name}"`);
    return { name, path: besideMix, weight: w, display: displayPath(besideMix) };
  });
}

export interface SourceLine extends RawLine {
  /** True on the first read of this line: bad lines are reported / counted only then. */
  firstRead: boolean;
  /** True when the weight takes this line into the dataset (on this pass). */
  taken: boolean;
}

/**
 * Streams a source's lines with its weight applied (blank lines skipped). Pass 0 yields every
 * line (so every line is validated once, taken or not); later passes repeat the taken ones.
 * Deterministic in (seed, source index).
 */
export async function* weightedLines(
  src: Source,
  index: number,
  seed: number,
  onBytes?: (bytes: number) => void,
): AsyncGenerator<SourceLine> {
  const full = Math.floor(src.weight);
  const frac = src.weight - full;
  let mask: Uint8Array | undefined;
  if (frac > 1e-12) {
    const n = await countRecords(src.path, src.display);
    const take = Math.round(frac * n);
    const order = permutation(n, new Rng(seed, 1000 + index));
    mask = new Uint8Array(n);
    for (let i = 0; i < take; i++) mask[order[i]!] = 1;
  }
  const passes = Math.max(1, Math.ceil(src.weight - 1e-12));
  let before = 0; // bytes read in earlier passes
  for (let pass = 0; pass < passes; pass++) {
    let k = 0; // index among non-blank lines
    let size = 0;
    const progress = onBytes
      ? (b: number) => {
          size = b;
          onBytes(before + b);
        }
      : undefined;
    for await (const line of readRecords(src.path, progress, src.display)) {
      if (isBlank(line.bytes)) continue;
      const taken = pass < full || (mask !== undefined && mask[k] === 1);
      k++;
      if (pass === 0 || taken) yield { ...line, firstRead: pass === 0, taken };
    }
    before += size;
  }
}

/** Bytes the weighted read of a source will consume (for progress and ETA). */
export function weightedBytes(src: Source): number {
  return statSync(src.path).size * Math.max(1, Math.ceil(src.weight - 1e-12));
}
