// Model FLOPs of training (forward + backward), the numerator of MFU. Matrix multiplies cost
// 6 FLOPs per parameter per token (2 forward, 4 backward), the LM head counted for every
// token as is usual for MFU; causal attention costs 2*len^2*H forward per layer and document
// (QK^T and PV, half of the full square) and 2.5x that backward (kernels.md).
import type { ModelSpec } from '../model/spec.js';

export function matmulParams(spec: ModelSpec): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V, nLayers: L } = spec;
  return L * (H * (nh + 2 * nkv) * D + nh * D * H + 3 * H * F) + V * H;
}

/**
 * FLOPs of forward + backward over documents of the given lengths. LoRA (`lora.adapterParams`
 * adapter parameters): the frozen base costs 4 per parameter per token (forward and dX, no dW)
 * and the adapters 6, as src/plan counts them.
 */
export function trainingFlops(spec: ModelSpec, docLens: ArrayLike<number>, lora: { adapterParams: number } | null = null): number {
  let tokens = 0;
  let squares = 0;
  for (let i = 0; i < docLens.length; i++) {
    tokens += docLens[i]!;
    squares += docLens[i]! * docLens[i]!;
  }
  const perToken = lora ? 4 * matmulParams(spec) + 6 * lora.adapterParams : 6 * matmulParams(spec);
  return perToken * tokens + spec.nLayers * 7 * spec.hidden * squares;
}
