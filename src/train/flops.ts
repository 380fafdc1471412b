// Model FLOPs of training (forward + backward), the numerator of MFU. Matrix multiplies cost
// 6 FLOPs per parameter per token (2 forward, 4 backward), the LM head counted for every
// token as is usual for MFU; causal attention costs 2*len^2*H forward per layer and document
// (QK^T and PV, half of the full square) and 2.5x that backward (kernels.md).
import type { ModelSpec } from '../model/spec.js';

export function matmulParams(spec: ModelSpec): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V, nLayers: L } = spec;
  return L * (H * (nh + 2 * nkv) * D + nh * D * H + 3 * H * F) + V * H;
}

/** FLOPs of forward + backward over documents of the given lengths. */
export function trainingFlops(spec: ModelSpec, docLens: ArrayLike<number>): number {
  let tokens = 0;
  let squares = 0;
  for (let i = 0; i < docLens.length; i++) {
    tokens += docLens[i]!;
    squares += docLens[i]! * docLens[i]!;
  }
  return 6 * matmulParams(spec) * tokens + spec.nLayers * 7 * spec.hidden * squares;
}
