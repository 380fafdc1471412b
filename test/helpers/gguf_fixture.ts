// Tiny TRAINED models of the three TeleChat layouts, with the shipped tokenizer, for the GGUF
// and chat tests: telechat-train runs 60 steps at lr 2e-2 on the shipped conversations, so the weights
// (biases included) are far from their init and the next-token distributions are peaked.
//   telechat2: GQA (4 heads, 2 kv heads), untied, output biases, training_seqlen 128 with
//              base_seqlen 64 so the NTK base differs from 10000 (alpha 3)
//   telechat:  v1, tied embeddings, MHA, prefix-less 7B-style names are not used (the shipped
//              tokenizer is SentencePiece; 7B's byte-level BPE is refused by the export)
//   52b:       GPT-2 names, muP (logits x 1/4, embeddings x 1.5), vocab 4096 > 4000 pieces
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeFixture, runTrain, zeroConfig } from './train_fixture.js';

export const GGUF_LAYOUTS: Record<string, Record<string, unknown>> = {
  telechat2: {
    architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 64, n_layer: 2, n_head: 4,
    num_key_value_heads: 2, ffn_hidden_size: 96, vocab_size: 4000, layer_norm_epsilon: 1e-5,
    tie_word_embeddings: false, training_seqlen: 128, base_seqlen: 64,
  },
  telechat: {
    architectures: ['TelechatForCausalLM'], model_type: 'telechat', hidden_size: 64, n_layer: 2, n_head: 4,
    ffn_hidden_size: 96, vocab_size: 4000, layer_norm_epsilon: 1e-5, training_seqlen: 128,
  },
  '52b': {
    architectures: ['TELECHAT'], model_type: 'telechat', n_embd: 64, n_layer: 2, n_head: 4, n_inner: 96,
    vocab_size: 4096, n_positions: 128, rotary_theta: 10000, activation_function: 'silu', add_bias_linear: false,
    use_RMSNorm: true, layer_norm_epsilon: 1e-5, use_mup: true, mup_scale_factor: 4.0, output_mult: 1.0,
    input_mult: 1.5, tie_word_embeddings: false,
  },
};

const STEPS = 60;

export interface TrainedModel {
  /** The run's output dir (final/, latest, checkpoint-*). */
  out: string;
  /** final/: an HF dir. */
  hf: string;
}

/** Trains (or reuses, within one test file's tmp dir) the tiny model of a layout. */
export async function trainedModel(dir: string, layout: string, port: number): Promise<TrainedModel> {
  const out = join(dir, `run-${layout}`);
  if (!existsSync(join(out, 'final'))) {
    const fx = await makeFixture(join(dir, `fx-${layout}`), GGUF_LAYOUTS[layout]!, 96);
    const optimizer = { type: 'AdamW', params: { lr: 2e-2, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 } };
    const cfg = zeroConfig(0, 12, 1, STEPS, { optimizer }, { save_steps: 0 });
    await runTrain(fx, out, 1, cfg, port);
    const last = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!;
    if (!(JSON.parse(last).loss < 7.5)) throw new Error(`${layout}: training did not move the loss: ${last}`);
  }
  return { out, hf: join(out, 'final') };
}
