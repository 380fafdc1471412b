// The bench model of [CORE]: 4 layers, hidden 512, 8 heads, ffn 1376, vocab 8192; batch 4 x 1024.
import type { ModelSpec } from '../model/spec.js';

export const BENCH_CONFIG = {
  architectures: ['Telechat2ForCausalLM'],
  model_type: 'telechat',
  hidden_size: 512,
  n_layer: 4,
  n_head: 8,
  num_key_value_heads: 8,
  ffn_hidden_size: 1376,
  vocab_size: 8192,
  layer_norm_epsilon: 1e-5,
  tie_word_embeddings: false,
  training_seqlen: 1024,
};

export const BENCH_SHAPE = { batch: 4, seqLen: 1024 };

/**
 * FLOPs of one forward+backward over `batch` rows of `seqLen` tokens, every token with a
 * label: 6 per parameter of each matrix multiply per token, plus causal attention
 * (forward 2*T^2*H per layer and row, backward 2.5x that: kernels.md).
 */
export function trainingFlopsPerStep(spec: ModelSpec, batch: number, seqLen: number): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V, nLayers: L } = spec;
  const matmulParams = L * (H * (nh + 2 * nkv) * D + nh * D * H + 3 * H * F) + V * H;
  const tokens = batch * seqLen;
  const attention = L * batch * 3.5 * 2 * seqLen * seqLen * H;
  return 6 * matmulParams * tokens + attention;
}
