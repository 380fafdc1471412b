// Integrity of a dataset dir, checked before its rows reach a kernel. Shards: size and sha256
// against manifest.json, whenever a dataset is opened. Rows: the format's invariants, for
// every row as it is read (damage that keeps a valid Arrow file and a matching checksum
// cannot happen by accident, but a hand-edited or foreign dataset can still break them).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { IGNORE_INDEX } from './encode.js';
import type { Manifest } from './manifest.js';
import type { ShardInfo } from './shards.js';

const CHUNK = 4 << 20;

function rebuildHint(dir: string): string {
  return `the file is damaged or was replaced: rebuild the dataset (telechat-data build ... --output ${dir} --overwrite)`;
}

/** sha256 of a file, streamed in fixed chunks (memory does not grow with the file). */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Checks one shard file against its manifest entry; throws naming the file. */
export function verifyShard(dir: string, sh: ShardInfo): void {
  const path = join(dir, sh.file);
  if (!existsSync(path)) throw new Error(`${path}: shard listed in manifest.json is missing; rebuild the dataset (telechat-data build)`);
  const size = statSync(path).size;
  if (sh.bytes !== undefined && size !== sh.bytes) {
    throw new Error(`${path}: ${size} bytes but manifest.json says ${sh.bytes}; ${rebuildHint(dir)}`);
  }
  const sha = sha256File(path);
  if (sha !== sh.sha256) {
    throw new Error(`${path}: sha256 ${sha.slice(0, 16)}… does not match manifest.json's ${sh.sha256.slice(0, 16)}…; ${rebuildHint(dir)}`);
  }
}

/** Checks every shard of a dataset dir (about 1 GB/s of sha256; see docs/data.md). */
export function verifyShards(dir: string, m: Manifest): void {
  for (const sh of m.shards) verifyShard(dir, sh);
}

export interface RowContext {
  /** Shard file path, for messages. */
  file: string;
  /** Row index within the shard. */
  local: number;
  /** Row index within the dataset (what `telechat-data inspect --row` takes). */
  global: number;
  /** Ids must lie in [0, vocab). */
  vocab: number;
  maxSeqLen: number;
}

/**
 * A row's invariants: input_ids in [0, vocab), labels aligned (same length; each -100 or the
 * row's own token at that position, Hugging Face convention), doc_lens positive and summing
 * to the row length, length within max_seq_len. Throws naming shard, row and position.
 */
export function checkRow(inputIds: Int32Array, labels: Int32Array, docLens: Int32Array, c: RowContext): void {
  const where = `${c.file}: row ${c.local} (dataset row ${c.global})`;
  const n = inputIds.length;
  const bad = (what: string): never => {
    throw new Error(`${where}: ${what}; the dataset is damaged: rebuild it with telechat-data build`);
  };
  if (n === 0) bad('empty row');
  if (n > c.maxSeqLen) bad(`${n} tokens, more than the manifest's max_seq_len ${c.maxSeqLen}`);
  if (labels.length !== n) bad(`${labels.length} labels for ${n} input_ids`);
  for (let i = 0; i < n; i++) {
    const id = inputIds[i]!;
    if (id < 0 || id >= c.vocab) bad(`token id ${id} at position ${i} is outside the vocabulary [0, ${c.vocab})`);
    const l = labels[i]!;
    if (l !== IGNORE_INDEX && l !== id) bad(`label ${l} at position ${i} is neither ${IGNORE_INDEX} nor the token there (${id})`);
  }
  let sum = 0;
  for (let d = 0; d < docLens.length; d++) {
    if (docLens[d]! <= 0) bad(`doc_lens[${d}] is ${docLens[d]}, not positive`);
    sum += docLens[d]!;
  }
  if (sum !== n) bad(`doc_lens sum to ${sum}, not the row length ${n}`);
}
