// Random initialisation for `--init random`: weights and embeddings ~ Normal(0, std) with
// std = initializer_range (0.02 when the config has none), biases 0, norm weights 1. Values
// come from a seeded generator in parameter-table order, so a seed gives the same model on
// every machine and world size.
import type { ParamEntry, ParamViews } from './params.js';

/** mulberry32: small, fast, and identical on every platform. */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples by Box-Muller over a seeded uniform source. */
export function fillNormal(out: Float32Array, std: number, uniform: () => number): void {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = Math.max(uniform(), 1e-12);
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
}

// Values are drawn and written in pieces of this many (even, so Box-Muller pairs never straddle
// two pieces and the stream is the same as one whole-tensor draw) through one staging array
// kept for the process: an array per tensor would be garbage V8 collects late, up to a
// model's worth of it, and a tensor's worth at once for a 7B embedding. (A 16-bit tensor's
// write still rounds each piece into a fresh 2 MiB array: one piece's worth, not a tensor's.)
export const PIECE = 1 << 20;
let staging: Float32Array | null = null;

/**
 * Fills `entries` (in table order) through `params`, drawing from `uniform`. Calling it unit
 * by unit with one generator gives the same values as one call over the whole table, so a
 * sharded engine initialises exactly like a single process.
 */
export function initRandomEntries(params: ParamViews, entries: readonly ParamEntry[], std: number, uniform: () => number): void {
  staging ??= new Float32Array(PIECE);
  for (const e of entries) {
    const flat = params.tensor(e.name).view(0, [e.numel]);
    for (let start = 0; start < e.numel; start += PIECE) {
      const values = staging.subarray(0, Math.min(PIECE, e.numel - start));
      if (e.kind === 'norm') values.fill(1);
      else if (e.kind === 'matrix' || e.kind === 'embedding') fillNormal(values, std, uniform);
      else values.fill(0); // biases
      flat.view(start, [values.length]).writeFloat32(values);
    }
  }
}

export function initRandom(params: ParamViews, std: number, seed: number): void {
  initRandomEntries(params, params.table.entries, std, seededUniform(seed));
}
