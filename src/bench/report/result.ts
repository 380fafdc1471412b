// A bench-results/*.json file read by field: every missing or mistyped value is an error
// naming the file and key, and every ratio is checked against the values it divides.
import { readFileSync } from 'node:fs';

export interface RunRecord {
  command: string;
  started: string;
  seconds: number;
  cpu: string;
  cores: number;
  load_before: number[];
  load_after: number[];
}

export type Json = Record<string, unknown>;

/** A field of a result file by dotted path; a missing or mistyped one names the file and key. */
export class Result {
  constructor(
    readonly file: string,
    readonly data: Json,
  ) {}

  get(path: string): unknown {
    let v: unknown = this.data;
    for (const k of path.split('.')) {
      if (typeof v !== 'object' || v === null || !(k in v)) throw new Error(`${this.file}: missing key ${path}`);
      v = (v as Json)[k];
    }
    return v;
  }

  num(path: string): number {
    const v = this.get(path);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${this.file}: ${path} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  str(path: string): string {
    const v = this.get(path);
    if (typeof v !== 'string') throw new Error(`${this.file}: ${path} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A non-empty array of finite numbers (per-round times, per-rank RSS). */
  nums(path: string): number[] {
    const v = this.get(path);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`${this.file}: ${path} must be a non-empty array of finite numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  }

  /** The length of an array. */
  len(path: string): number {
    const v = this.get(path);
    if (!Array.isArray(v)) throw new Error(`${this.file}: ${path} must be an array, got ${JSON.stringify(v)}`);
    return v.length;
  }

  has(path: string): boolean {
    try {
      this.get(path);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * A ratio from a result file, checked against the two values it is the ratio of (both printed on
 * the page): one computed the wrong way round (torch / ours for ours / torch) or not from those
 * values is refused, naming the key, rather than printed beside a target.
 */
export function ratioOf(r: Result, key: string, num: string, den: string): number {
  const v = r.num(key);
  const x = r.num(num) / r.num(den);
  if (!(Math.abs(v - x) <= 1e-9 * Math.abs(x))) {
    throw new Error(`${r.file}: ${key} is ${v}, but ${num} / ${den} is ${x} (a ratio the wrong way round, or not from the values the page shows)`);
  }
  return v;
}

/** A JSON file of bench-results/ as a Result; one that does not parse is one error naming it. */
export function readResult(file: string): Result {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file}: must hold a JSON object, got ${JSON.stringify(data)}`);
  return new Result(file, data as Json);
}
