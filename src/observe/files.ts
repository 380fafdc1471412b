// Small file helpers shared by the monitors and the report.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

let tmpCount = 0;

/** Writes every byte of buf at fd's position, or throws: write(2) returns short when a disk fills mid-buffer. */
export function writeAll(fd: number, buf: Uint8Array): void {
  for (let o = 0; o < buf.length; ) o += writeSync(fd, buf, o);
}

/**
 * Writes through a temp file in the same dir, then renames: readers see old or new, never half.
 * The temp name holds neither the target's name nor "tfevents", so a crash can't leave a file
 * that TensorBoard or a CSV scan would take for data.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.telechat-tmp-${process.pid}-${tmpCount++}`);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeAll(fd, buf);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true }); // a failed write (a full disk, a dir at path) leaves no temp file
    throw err;
  }
}

/** One parsed line of a JSON-lines file: its text, 1-based number and value. */
export interface JsonLine {
  text: string;
  n: number;
  value: unknown;
}

/**
 * The non-blank lines of a JSON-lines file (metrics.jsonl, eval.jsonl), parsed. A last line that
 * does not parse is torn (a writer killed mid-line, or still writing): it is left out and its
 * number returned; any other one is an error naming FILE:LINE.
 */
export function readJsonLineFile(path: string): { lines: JsonLine[]; torn: number | null } {
  const raw = readFileSync(path, 'utf8').split('\n');
  let last = raw.length - 1;
  while (last >= 0 && raw[last]!.trim() === '') last--;
  const lines: JsonLine[] = [];
  let torn: number | null = null;
  raw.forEach((text, i) => {
    if (text.trim() === '') return;
    try {
      lines.push({ text, n: i + 1, value: JSON.parse(text) });
    } catch (e) {
      if (i !== last) throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      torn = i + 1;
    }
  });
  return { lines, torn };
}
