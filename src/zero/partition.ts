// How ZeRO splits the flat parameter space: every unit (embedding, block, head) is padded to
// a multiple of 32 * world size and cut into one equal chunk per rank, so the reduce-scatter
// of a unit's gradients and the all-gather of its parameters are plain collectives with no
// tensor straddling logic. Rank r's shard is its chunks of all units, in unit order.
import type { ParamTable, UnitRange } from '../model/params.js';

export interface UnitShard {
  unit: UnitRange['unit'];
  /** Unit range in the flat space (padded). */
  start: number;
  length: number;
  /** Elements per rank. */
  chunk: number;
  /** Start of this rank's chunk in the flat space. */
  mine: number;
  /** Start of this rank's chunk inside its contiguous shard. */
  shardOffset: number;
}

export function partition(table: ParamTable, rank: number, worldSize: number): UnitShard[] {
  let shardOffset = 0;
  return table.units.map((u) => {
    const length = u.end - u.start;
    if (length % worldSize !== 0) throw new Error(`unit ${String(u.unit)} of ${length} elements is not padded for ${worldSize} ranks`);
    const chunk = length / worldSize;
    const s = { unit: u.unit, start: u.start, length, chunk, mine: u.start + rank * chunk, shardOffset };
    shardOffset += chunk;
    return s;
  });
}

/** The unit holding a canonical parameter. */
export function unitOf(table: ParamTable, name: string): UnitRange {
  const e = table.get(name);
  const u = table.units.find((x) => e.offset >= x.start && e.offset < x.end);
  if (!u) throw new Error(`parameter ${name} lies in no unit`);
  return u;
}
