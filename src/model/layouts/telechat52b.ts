// TeleChat-52B names: GPT-2 style with Conv1D weights stored [in, out]. c_attn holds Q|K|V as
// contiguous column blocks and c_fc holds gate|up, which after transposing are exactly the
// canonical qkv and gate_up row orders. No biases.
import type { ModelSpec } from '../spec.js';
import { type CheckpointLayout, type TensorMap, whole } from './layout.js';

export function telechat52bLayout(spec: ModelSpec): CheckpointLayout {
  const { hidden: H, ffn: F, vocab: V } = spec;
  const t: TensorMap[] = [];
  t.push(whole('transformer.wte.weight', [V, H], 'embed'));
  for (let i = 0; i < spec.nLayers; i++) {
    const hf = `transformer.h.${i}.`;
    const c = `layers.${i}.`;
    t.push(whole(hf + 'ln_1.weight', [H], c + 'ln1'));
    t.push(whole(hf + 'attn.c_attn.weight', [H, 3 * H], c + 'qkv', true));
    t.push(whole(hf + 'attn.c_proj.weight', [H, H], c + 'o', true));
    t.push(whole(hf + 'ln_2.weight', [H], c + 'ln2'));
    t.push(whole(hf + 'mlp.c_fc.weight', [H, 2 * F], c + 'gate_up', true));
    t.push(whole(hf + 'mlp.c_proj.weight', [F, H], c + 'down', true));
  }
  t.push(whole('transformer.ln_f.weight', [H], 'ln_f'));
  if (!spec.tiedEmbeddings) t.push(whole('lm_head.weight', [V, H], 'lm_head'));
  return { name: 'telechat-52b', tensors: t };
}
