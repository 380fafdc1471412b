// Rotary tables with TeleChat's NTK rule (reference/telechat.md). We train with the rule the
// model is served with, evaluated at max(max_seq_len, training_seqlen) (DESIGN.md), so the
// fine-tuned weights see the same frequencies at training and inference time.
import type { RopeSpec } from './spec.js';

export interface RopeParams {
  /** Length the rule is evaluated at. */
  seqLen: number;
  ntkAlpha: number;
  base: number;
  /** Multiplier on cos and sin (>1 only beyond training_seqlen). */
  mscale: number;
}

export function ntkAlpha(seqLen: number, refSeqlen: number): number {
  const context = Math.log2(seqLen / refSeqlen) + 1;
  return Math.max(2 ** Math.ceil(context) - 1, 1);
}

export function ropeParams(rope: RopeSpec, headDim: number, maxSeqLen: number): RopeParams {
  const seqLen = Math.max(maxSeqLen, rope.trainingSeqlen);
  const alpha = ntkAlpha(seqLen, rope.refSeqlen);
  const base = rope.alphaExponent === 'dim' ? rope.theta * alpha ** (headDim / (headDim - 2)) : rope.theta * alpha;
  const ratio = seqLen / rope.trainingSeqlen;
  const mscale = ratio > 1 ? 0.1 * Math.log(ratio) + 1 : 1;
  return { seqLen, ntkAlpha: alpha, base, mscale };
}

/** cos and sin tables [positions, headDim/2] in fp32, mscale folded in. Angles in fp64. */
export function ropeTables(params: RopeParams, headDim: number, positions: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let i = 0; i < half; i++) {
    const invFreq = 1 / params.base ** ((2 * i) / headDim);
    for (let p = 0; p < positions; p++) {
      const angle = p * invFreq;
      cos[p * half + i] = Math.cos(angle) * params.mscale;
      sin[p * half + i] = Math.sin(angle) * params.mscale;
    }
  }
  return { cos, sin };
}
