// TeleChat v1 (7B, 12B) and TeleChat2 names (reference/telechat.md). The fused key_value
// projection interleaves per kv head: viewed as (kv_heads, 2*head_dim, H), each head holds
// its K rows then its V rows. The 7B checkpoint has no "transformer." prefix.
import type { ModelSpec } from '../spec.js';
import { type CheckpointLayout, type TensorMap, whole } from './layout.js';

export function telechatLayout(spec: ModelSpec, prefix: string): CheckpointLayout {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V } = spec;
  const t: TensorMap[] = [];
  t.push(whole(`${prefix}word_embeddings.weight`, [V, H], 'embed'));
  for (let i = 0; i < spec.nLayers; i++) {
    const hf = `${prefix}h.${i}.`;
    const c = `layers.${i}.`;
    t.push(whole(hf + 'input_layernorm.weight', [H], c + 'ln1'));
    t.push({ ...whole(hf + 'self_attention.query.weight', [nh * D, H], c + 'qkv') });
    const kvRows: Array<[number, number, number]> = [];
    for (let j = 0; j < nkv; j++) {
      kvRows.push([j * 2 * D, nh * D + j * D, D]); // K of kv head j
      kvRows.push([j * 2 * D + D, nh * D + nkv * D + j * D, D]); // V of kv head j
    }
    t.push({ hfName: hf + 'self_attention.key_value.weight', hfShape: [2 * nkv * D, H], canonical: c + 'qkv', transpose: false, rows: kvRows });
    t.push(whole(hf + 'self_attention.dense.weight', [H, nh * D], c + 'o'));
    t.push(whole(hf + 'self_attention.dense.bias', [H], c + 'o_bias'));
    t.push(whole(hf + 'post_attention_layernorm.weight', [H], c + 'ln2'));
    t.push(whole(hf + 'mlp.gate_proj.weight', [F, H], c + 'gate_up'));
    t.push({ hfName: hf + 'mlp.up_proj.weight', hfShape: [F, H], canonical: c + 'gate_up', transpose: false, rows: [[0, F, F]] });
    t.push(whole(hf + 'mlp.down_proj.weight', [H, F], c + 'down'));
    t.push(whole(hf + 'mlp.down_proj.bias', [H], c + 'down_bias'));
  }
  t.push(whole(`${prefix}ln_f.weight`, [H], 'ln_f'));
  if (!spec.tiedEmbeddings) t.push(whole('lm_head.weight', [V, H], 'lm_head'));
  return { name: 'telechat', tensors: t };
}
