// DeepSpeed's csv_monitor layout (deepspeed/monitor/csv_monitor.py): under
// output_path/job_name, one file per tag named after the tag with '/' and ' ' replaced by '_'
// plus `.csv`, a header row `step,<last path segment of the tag>`, then rows `x,value`.
// Values are written as Python's str(float) would (DeepSpeed writes Python floats), so the
// files read the same as DeepSpeed's.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';
import type { KeepScalar, ScalarEvent } from './scalars.js';

export function csvFileName(tag: string): string {
  return `${tag.replace(/\//g, '_').replace(/ /g, '_')}.csv`;
}

export function csvHeader(tag: string): string {
  const parts = tag.split('/');
  return `step,${parts[parts.length - 1]}`;
}

/** Python's repr of a float: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
export function pythonFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = v.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    const sign = exp < 0 ? '-' : '+';
    return `${mant}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  let s: string;
  if (exp >= 0) {
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    s = `${int}.${frac === '' ? '0' : frac}`;
  } else {
    s = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return neg ? `-${s}` : s;
}

/** x is an integer step or sample count; written as Python writes an int. */
function pythonInt(x: number): string {
  return Number.isInteger(x) ? String(x) : pythonFloat(x);
}

export class CsvMonitor {
  /** `claim` hears of each file before this monitor creates it (the run records the files it owns). */
  constructor(
    readonly dir: string,
    private readonly claim: (path: string) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true });
  }

  write(events: readonly ScalarEvent[]): void {
    for (const e of events) {
      const path = join(this.dir, csvFileName(e.tag));
      const created = !existsSync(path);
      if (created) this.claim(path);
      const header = created ? `${csvHeader(e.tag)}\r\n` : '';
      appendFileSync(path, `${header}${pythonInt(e.x)},${pythonFloat(e.value)}\r\n`);
    }
  }
}

function csvLines(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Whether one run alone wrote the CSV file: its x values rise row by row (a resume cuts back
 * before it appends). A second run appending to the same file (same job_name) starts again
 * from its own first step.
 */
export function csvWrittenByOneRun(path: string): boolean {
  const xs = csvLines(path).slice(1).map((l) => Number(l.slice(0, l.indexOf(','))));
  return xs.every((x, i) => i === 0 || x > xs[i - 1]!);
}

/**
 * Keeps the header and the rows whose x survives the resume in the CSV files `names` of `dir`
 * (default: all; rewritten atomically). The tag is recovered from the file name, so `keep` gets
 * the file's base name with '_' where the tag had '/'; callers decide by prefix.
 */
export function truncateCsvFiles(dir: string, keep: KeepScalar, names?: readonly string[]): string[] {
  if (!existsSync(dir)) return [];
  const rewritten: string[] = [];
  for (const name of names ?? readdirSync(dir).filter((f) => f.endsWith('.csv')).sort()) {
    const path = join(dir, name);
    const tag = name.slice(0, -'.csv'.length);
    const lines = csvLines(path);
    const kept = lines.filter((l, i) => i === 0 || (l.includes(',') && keep(tag, Number(l.slice(0, l.indexOf(','))))));
    if (kept.length !== lines.length) {
      writeFileAtomic(path, kept.map((l) => `${l}\r\n`).join(''));
      rewritten.push(name);
    }
  }
  return rewritten;
}
