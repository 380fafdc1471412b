// Packed copies of a frozen base's projection weights (LoRA). The CPU's bf16 products (oneDNN)
// read a weight in a blocked layout they otherwise build from the plain W on every call; a frozen
// W never changes, so it is packed once and the forward's products (the block's four and the LM
// head) read the packed copy for the rest of the run (Backend.packFrozenWeight; nothing where the
// backend has no such layout: fp32, CUDA). The plain base stays: the backward's dX products, the
// merged export and checkpoints read it. Only a resident base is packed (ZeRO stages 0-2): stage 3
// gathers each unit into a buffer reused for the next.
import type { Backend } from '../native/backend.js';
import { allocatedBytes } from '../native/alloc_size.js';
import { MemCategory, type Tensor } from '../native/tensor.js';
import type { BlockPacks, ParamTable, ParamViews } from './params.js';

/** The packed projections of block l, by their ParamTable names (BlockTensors' fields). */
const BLOCK_PROJECTIONS = { qkv: 'qkv', o: 'o', gateUp: 'gate_up', down: 'down' } as const;

/** The LM head's table name: lm_head, or the word embeddings when tied (ParamViews.lmHead). */
function headName(table: ParamTable): string {
  return table.has('lm_head') ? 'lm_head' : 'embed';
}

/** Names of every weight a frozen base packs. */
export function packedWeightNames(table: ParamTable, nLayers: number): string[] {
  const names: string[] = [];
  for (let l = 0; l < nLayers; l++) for (const name of Object.values(BLOCK_PROJECTIONS)) names.push(`layers.${l}.${name}`);
  names.push(headName(table));
  return names;
}

/**
 * Bytes the packed copies take in the allocator (category Buffers), given the bytes of one packed
 * [Out, In] weight (0: that product takes none; native linearPackedWeightBytes on the CPU).
 */
export function frozenPackBytes(table: ParamTable, nLayers: number, packedBytes: (In: number, Out: number) => number): number {
  let total = 0;
  for (const name of packedWeightNames(table, nLayers)) {
    const [Out, In] = table.get(name).shape as [number, number];
    const bytes = packedBytes(In, Out);
    if (bytes > 0) total += allocatedBytes(bytes);
  }
  return total;
}

export class FrozenPacks {
  private readonly packs = new Map<string, Tensor>();
  private readonly headName: string;

  /** Packs every weight of packedWeightNames that the backend packs (reads base once, now). */
  constructor(be: Backend, base: ParamViews, nLayers: number) {
    this.headName = headName(base.table);
    for (const name of packedWeightNames(base.table, nLayers)) {
      const packed = be.packFrozenWeight(base.tensor(name), MemCategory.Buffers);
      if (packed) this.packs.set(name, packed);
    }
  }

  block(l: number): BlockPacks {
    const get = (name: string): Tensor | null => this.packs.get(`layers.${l}.${name}`) ?? null;
    return { qkv: get(BLOCK_PROJECTIONS.qkv), o: get(BLOCK_PROJECTIONS.o), gateUp: get(BLOCK_PROJECTIONS.gateUp), down: get(BLOCK_PROJECTIONS.down) };
  }

  head(): Tensor | null {
    return this.packs.get(this.headName) ?? null;
  }

  free(): void {
    for (const t of this.packs.values()) t.free();
    this.packs.clear();
  }
}
