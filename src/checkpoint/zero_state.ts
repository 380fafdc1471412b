// ZeRO optimizer state on disk: zero/rank-RRRRR.safetensors per rank holding, for every unit,
// the fp32 master weights and both Adam moments of the unit-relative range that rank owned,
// plus zero/layout.json naming each file's ranges. Offsets inside a unit do not depend on the
// world size (only the padding at its end does), so a reader can cut any new partition out of
// any old one: resume may change the world size and the ZeRO stage.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildParamTable } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { CheckpointError } from './hf.js';
import { SafetensorsReader } from './safetensors.js';

export const STATE_KINDS = ['master', 'exp_avg', 'exp_avg_sq'] as const;
export type StateKind = (typeof STATE_KINDS)[number];

export interface ZeroLayoutFile {
  file: string;
  rank: number;
  /** Per unit (same order as `units`): unit-relative [start, end) this file holds. */
  ranges: Array<[number, number]>;
}

export interface ZeroLayout {
  format: 'telechat-zero-state';
  version: 1;
  world_size: number;
  stage: number;
  /** Unit keys ("embed", "block.3", "head") and their unpadded lengths. */
  units: Array<{ key: string; length: number }>;
  files: ZeroLayoutFile[];
}

export function unitKey(unit: 'embed' | number | 'head'): string {
  return typeof unit === 'number' ? `block.${unit}` : unit;
}

/** Unit keys and unpadded lengths: the same for every world size. */
export function unitList(spec: ModelSpec): Array<{ key: string; length: number }> {
  return buildParamTable(spec, 1).units.map((u) => ({ key: unitKey(u.unit), length: u.end - u.start }));
}

export function tensorName(key: string, kind: StateKind): string {
  return `${key}.${kind}`;
}

export function rankFileName(rank: number): string {
  return `rank-${String(rank).padStart(5, '0')}.safetensors`;
}

/** Reads unit ranges of the saved state, whatever partition wrote them. */
export class ZeroStateReader {
  readonly layout: ZeroLayout;
  private readonly readers: SafetensorsReader[] = [];

  constructor(readonly dir: string) {
    const path = join(dir, 'layout.json');
    if (!existsSync(path)) throw new CheckpointError(`${dir}: missing layout.json (not a complete ZeRO state)`);
    let layout: ZeroLayout;
    try {
      layout = JSON.parse(readFileSync(path, 'utf8')) as ZeroLayout;
    } catch (err) {
      throw new CheckpointError(`${path}: not valid JSON (${(err as Error).message})`);
    }
    if (layout.format !== 'telechat-zero-state' || layout.version !== 1) throw new CheckpointError(`${path}: not a telechat ZeRO state layout (format/version)`);
    if (!Array.isArray(layout.files) || layout.files.length === 0) throw new CheckpointError(`${path}: lists no rank files`);
    this.layout = layout;
    try {
      for (const f of layout.files) {
        const file = join(dir, f.file);
        if (!existsSync(file)) throw new CheckpointError(`${file}: missing rank file (layout.json lists it for rank ${f.rank})`);
        const r = new SafetensorsReader(file);
        this.readers.push(r);
        if (f.ranges.length !== layout.units.length) throw new CheckpointError(`${file}: ${f.ranges.length} unit ranges for ${layout.units.length} units in layout.json`);
        layout.units.forEach((u, i) => {
          const [a, b] = f.ranges[i]!;
          for (const kind of STATE_KINDS) {
            const name = tensorName(u.key, kind);
            const info = r.tensors.get(name);
            if (!info) throw new CheckpointError(`${file}: missing tensor ${name}`);
            if (info.dtype !== 'F32' || info.shape.length !== 1 || info.shape[0] !== b - a) {
              throw new CheckpointError(`${file}: tensor ${name} is ${info.dtype} [${info.shape}], expected F32 [${b - a}]`);
            }
          }
        });
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Checks the saved units against the current model's (same keys and lengths). */
  checkUnits(units: Array<{ key: string; length: number }>): void {
    const saved = this.layout.units.map((u) => `${u.key}:${u.length}`).join(',');
    const now = units.map((u) => `${u.key}:${u.length}`).join(',');
    if (saved !== now) throw new CheckpointError(`${this.dir}: optimizer state is for a different model shape (units ${saved} vs ${now})`);
  }

  /** Values [start, start + count) of a unit (unit-relative); beyond the saved length: zeros. */
  read(unitIndex: number, kind: StateKind, start: number, count: number): Float32Array {
    const out = new Float32Array(count);
    const key = this.layout.units[unitIndex]!.key;
    this.layout.files.forEach((f, i) => {
      const [a, b] = f.ranges[unitIndex]!;
      const lo = Math.max(a, start);
      const hi = Math.min(b, start + count);
      if (lo >= hi) return;
      out.set(this.readers[i]!.readF32Range(tensorName(key, kind), lo - a, hi - lo), lo - start);
    });
    return out;
  }

  close(): void {
    for (const r of this.readers) r.close();
    this.readers.length = 0;
  }
}
