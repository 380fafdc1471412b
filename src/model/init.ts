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

/**
 * Fills `entries` (in table order) through `params`, drawing from `uniform`. Calling it unit
 * by unit with one generator gives the same values as one call over the whole table, so a
 * sharded engine initialises exactly like a single process.
 */
export function initRandomEntries(params: ParamViews, entries: readonly ParamEntry[], std: number, uniform: () => number): void {
  for (const e of entries) {
    const values = new Float32Array(e.numel);
    if (e.kind === 'norm') values.fill(1);
    else if (e.kind === 'matrix' || e.kind === 'embedding') fillNormal(values, std, uniform);
    // biases stay 0
    params.tensor(e.name).writeFloat32(values);
  }
}

export function initRandom(params: ParamViews, std: number, seed: number): void {
  initRandomEntries(params, params.table.entries, std, seededUniform(seed));
}
