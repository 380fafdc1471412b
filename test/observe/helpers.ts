// Shared by the observe tests: the independent Python reader of event files, and how a
// metrics.jsonl value compares with what TensorBoard stores (a float32).
import { resolve } from 'node:path';
import { runPython } from '../helpers/python.js';

export const TB_READER = resolve('scripts/reference/tfevents_reader.py');

export interface TbScalar {
  tag: string;
  step: number;
  wall_time: number;
  /** Python repr of the float32 read back ("nan" for NaN). */
  value: string;
}

export interface TbFile {
  file: string;
  file_version: string | null;
  error: string | null;
  scalars: TbScalar[];
}

export function readEventsPy(...paths: string[]): TbFile[] {
  return (JSON.parse(runPython(TB_READER, paths)) as { files: TbFile[] }).files;
}

/** Python float repr -> number (nan/inf spelled the Python way). */
export function pyNumber(s: string): number {
  if (s === 'nan') return NaN;
  if (s === 'inf') return Infinity;
  if (s === '-inf') return -Infinity;
  return Number(s);
}

/** metrics.jsonl writes NaN as null. */
export function metricValue(v: number | null): number {
  return v === null ? NaN : v;
}

/** Exact float32 equality (NaN equals NaN): TensorBoard's simple_value is a float32. */
export function sameF32(stored: number, metric: number): boolean {
  return Number.isNaN(metric) ? Number.isNaN(stored) : stored === Math.fround(metric);
}
