// The bench model of [CORE]: 4 layers, hidden 512, 8 heads, ffn 1376, vocab 8192; batch 4 x 1024.
import type { ModelSpec } from '../model/spec.js';
import { trainingFlops } from '../train/flops.js';

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
 * The config JSON the PyTorch peers (scripts/bench/core_torch.py, zero_torch.py) read: the bench
 * model and BENCH_SHAPE, so the batch both sides run is defined once.
 */
export function peerConfigJson(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...BENCH_CONFIG, shape: BENCH_SHAPE, ...extra });
}

/** Refuses a PyTorch side's result unless it ran BENCH_SHAPE (the peers echo the batch they ran). */
export function checkPeerShape(what: string, out: { batch?: unknown; seq_len?: unknown }): void {
  if (out.batch !== BENCH_SHAPE.batch || out.seq_len !== BENCH_SHAPE.seqLen) {
    throw new Error(`${what} ran a batch of ${String(out.batch)} x ${String(out.seq_len)} tokens, ours ${BENCH_SHAPE.batch} x ${BENCH_SHAPE.seqLen}`);
  }
}

/** FLOPs of one forward+backward: `batch` rows, each one document of `seqLen` tokens. */
export function trainingFlopsPerStep(spec: ModelSpec, batch: number, seqLen: number): number {
  return trainingFlops(spec, new Array<number>(batch).fill(seqLen));
}

/**
 * Optimizer of bench:train's full step, the same on both sides (scripts/bench/core_torch.py
 * --train reads it from the config JSON): AdamW, constant lr, global-norm clipping at 1.0 as
 * TeleChat's DeepSpeed configs use, weight decay on matrices and embeddings only.
 */
export const TRAIN_HYPER = { lr: 1e-4, betas: [0.9, 0.95] as [number, number], eps: 1e-8, weight_decay: 0.1, clip: 1.0 };

/** LoRA rank of bench:train's LoRA rows (every block projection, alpha = 2 r). */
export const BENCH_LORA_R = 16;
