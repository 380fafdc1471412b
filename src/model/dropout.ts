// Residual dropout (TeleChat's dropout_add after the attention output projection and after the
// MLP), training only. Masks are not drawn from a stateful RNG: each element's keep/drop is a
// hash of (seed, step, layer, branch, global row, position in row, channel)
// (native/src/dropout_hash.h), so a row gets the same mask whichever rank and micro-step it
// lands on, and the backward of a recomputed block regenerates exactly the forward's mask.
import type { DropoutMask } from '../native/backend.js';
import { INT32, type Arena, type Tensor } from '../native/tensor.js';
import type { HostBatch } from './batch.js';

const M64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

/** splitmix64's output function (dropout_hash.h `mix`). */
export function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

function absorb(key: bigint, v: number): bigint {
  return mix64(((key ^ BigInt(v)) + GOLDEN) & M64);
}

export type DropoutBranch = 'attention' | 'mlp';
const BRANCH_CODE: Record<DropoutBranch, number> = { attention: 0, mlp: 1 };

/** Branch codes from LORA_BRANCH_BASE up key the LoRA input dropout of module i of a block (lora.ts). */
export const LORA_BRANCH_BASE = 16;

/** The stream key of one residual branch (or LoRA module, by code) of one layer at one optimizer step (1-based). */
export function dropoutStreamKey(seed: number, step: number, layer: number, branch: DropoutBranch | number): bigint {
  for (const [name, v] of [['seed', seed], ['step', step], ['layer', layer]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`dropout: ${name} must be a non-negative integer, got ${v}`);
  }
  const code = typeof branch === 'number' ? branch : BRANCH_CODE[branch];
  return absorb(absorb(absorb(mix64((BigInt(seed) + GOLDEN) & M64), step), layer), code);
}

/** The masks of one micro-batch: one stream per (layer, branch) over the same token coordinates. */
export class BatchDropout {
  private constructor(
    readonly p: number,
    private readonly seed: number,
    private readonly step: number,
    private readonly tokens: Tensor,
  ) {}

  /**
   * Token coordinates (global row, position in row) of `host`, uploaded into `arena`. The
   * batch must say where it sits in training (HostBatch.origin: step and global rows).
   */
  static forBatch(host: HostBatch, p: number, seed: number, arena: Arena): BatchDropout {
    const origin = host.origin;
    if (!origin) throw new Error('hidden dropout needs the batch origin (optimizer step and global row of each row); the data feed sets it');
    const rows = host.rowStarts.length - 1;
    if (origin.rows.length !== rows) throw new Error(`batch origin names ${origin.rows.length} global rows for a batch of ${rows} rows`);
    const coords = new Int32Array(2 * host.tokens);
    for (let r = 0; r < rows; r++) {
      for (let t = host.rowStarts[r]!; t < host.rowStarts[r + 1]!; t++) {
        coords[2 * t] = origin.rows[r]!;
        coords[2 * t + 1] = t - host.rowStarts[r]!;
      }
    }
    const tokens = arena.alloc(INT32, [Math.max(host.tokens, 1), 2]);
    if (host.tokens > 0) tokens.view(0, [host.tokens, 2]).writeInt32(coords);
    return new BatchDropout(p, seed, origin.step, host.tokens > 0 ? tokens.view(0, [host.tokens, 2]) : tokens);
  }

  /** The mask on the input of LoRA module `index` of block `layer` (its own stream, same token coordinates). */
  loraMask(layer: number, index: number): DropoutMask {
    return this.mask(layer, LORA_BRANCH_BASE + index);
  }

  mask(layer: number, branch: DropoutBranch | number): DropoutMask {
    return { key: dropoutStreamKey(this.seed, this.step, layer, branch), p: this.p, tokens: this.tokens };
  }
}
