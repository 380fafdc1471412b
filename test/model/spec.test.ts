// Model configs: layout detection by architectures and key names, and one clear error per
// bad config naming the key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildParamTable } from '../../src/model/params.js';
import { ntkAlpha, ropeParams } from '../../src/model/rope.js';
import { loadModelSpec, parseModelSpec } from '../../src/model/spec.js';

const TELECHAT2 = {
  architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 96, n_layer: 2, n_head: 6,
  num_key_value_heads: 2, ffn_hidden_size: 160, vocab_size: 301, layer_norm_epsilon: 1e-5, tie_word_embeddings: false,
  training_seqlen: 8192, base_seqlen: 8192,
};
const T52B = {
  architectures: ['TELECHAT'], model_type: 'telechat', n_embd: 64, n_layer: 2, n_head: 4, n_inner: 96, vocab_size: 263,
  n_positions: 4096, rotary_theta: 10000, use_mup: true, mup_scale_factor: 32.0, output_mult: 1.0, tie_word_embeddings: false,
};

describe('model spec', () => {
  it('tells layouts apart by key names, not model_type', () => {
    const a = parseModelSpec(TELECHAT2);
    expect(a.layout).toBe('telechat');
    expect([a.nHeads, a.nKvHeads, a.headDim, a.outputBiases]).toEqual([6, 2, 16, true]);
    const b = parseModelSpec(T52B);
    expect(b.layout).toBe('telechat-52b');
    expect(b.logitScale).toBe(1 / 32);
    expect([b.nKvHeads, b.outputBiases, b.tiedEmbeddings]).toEqual([4, false, false]);
  });

  it('defaults: absent num_key_value_heads is MHA, absent tie_word_embeddings is tied', () => {
    const { num_key_value_heads: _kv, tie_word_embeddings: _tie, ...v1 } = TELECHAT2;
    const s = parseModelSpec({ ...v1, architectures: ['TelechatForCausalLM'] });
    expect(s.nKvHeads).toBe(6);
    expect(s.tiedEmbeddings).toBe(true);
    expect(buildParamTable(s).has('lm_head')).toBe(false);
  });

  it('52B: n_inner null or absent is 4 * n_embd (HF GPT-2-style TELECHATBlock, as telechat_model.py)', () => {
    const { n_inner: _f, ...absent } = T52B;
    for (const cfg of [{ ...T52B, n_inner: null }, absent]) expect(parseModelSpec(cfg).ffn).toBe(4 * 64);
    expect(() => parseModelSpec({ ...T52B, n_inner: 'big' })).toThrow('config.json: "n_inner" must be a number, got "big"');
    expect(() => parseModelSpec({ ...T52B, n_inner: 0 })).toThrow('config.json: "n_inner" must be a positive integer, got 0');
  });

  it('NTK rule: REF is base_seqlen, else 8192, else 4096 for the 7B shape', () => {
    expect(ntkAlpha(8192, 4096)).toBe(3);
    expect(ntkAlpha(4096, 4096)).toBe(1);
    expect(ntkAlpha(1000, 4096)).toBe(1);
    expect(ntkAlpha(16384, 8192)).toBe(3);
    expect(ntkAlpha(16385, 8192)).toBe(7);
    const sevenB = parseModelSpec({ architectures: ['TelechatForCausalLM'], hidden_size: 64, n_layer: 1, n_head: 4, ffn_hidden_size: 96, vocab_size: 160256, training_seqlen: 8192 });
    expect(sevenB.rope.refSeqlen).toBe(4096);
    const served = ropeParams(sevenB.rope, 16, 2048); // evaluated at max(2048, 8192)
    expect(served.ntkAlpha).toBe(3);
    expect(served.base).toBeCloseTo(10000 * 3 ** (16 / 14), 6);
    expect(served.mscale).toBe(1);
    const long = ropeParams(parseModelSpec(TELECHAT2).rope, 16, 16384);
    expect(long.mscale).toBeCloseTo(0.1 * Math.log(2) + 1, 12);
    const r52 = ropeParams(parseModelSpec(T52B).rope, 16, 10000);
    expect(r52.ntkAlpha).toBe(7);
    expect(r52.base).toBe(70000); // theta * alpha, no dim exponent
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['missing key', { ...TELECHAT2, n_head: undefined }, /missing key "n_head"/],
    ['heads not dividing hidden', { ...TELECHAT2, n_head: 5 }, /"n_head" \(5\) does not divide "hidden_size" \(96\)/],
    ['kv heads not dividing heads', { ...TELECHAT2, num_key_value_heads: 4 }, /"num_key_value_heads" \(4\) does not divide "n_head" \(6\)/],
    ['unknown architecture', { ...TELECHAT2, architectures: ['GPT2LMHeadModel'] }, /unknown architecture "GPT2LMHeadModel".*supported layouts: telechat .*telechat-52b/],
    ['no size key at all', { architectures: ['TelechatForCausalLM'], n_layer: 2 }, /missing key "hidden_size".*supported layouts/],
    ['wrong type', { ...TELECHAT2, n_layer: '2' }, /"n_layer" must be a number, got "2"/],
    ['52B non-silu', { ...T52B, activation_function: 'gelu' }, /"activation_function" is "gelu"/],
    ['52B missing mup factor', { ...T52B, mup_scale_factor: undefined }, /missing key "mup_scale_factor"/],
    // keys that change the math are refused, naming file, key and value
    ['post-layernorm residual', { ...TELECHAT2, apply_residual_connection_post_layernorm: true }, /^config\.json: "apply_residual_connection_post_layernorm" is true, which is not supported/],
    ['embedding layernorm', { ...TELECHAT2, embed_layernorm: true }, /^config\.json: "embed_layernorm" is true, which is not supported/],
    ['52B alibi encoding', { ...T52B, relative_encoding: 'alibi' }, /^config\.json: "relative_encoding" is "alibi"; the 52B layout supports only "rotary"/],
    ['52B xpos rotary', { ...T52B, rotary_use_xpos: true }, /^config\.json: "rotary_use_xpos" is true, which is not supported/],
    ['52B unscaled attention', { ...T52B, scale_attn_weights: false }, /^config\.json: "scale_attn_weights" is false, which is not supported/],
    ['52B embedding dropout', { ...T52B, embd_pdrop: 0.1 }, /^config\.json: "embd_pdrop" is 0\.1: dropout on the embeddings is not implemented/],
    ['dropout of 1', { ...TELECHAT2, hidden_dropout: 1 }, /^config\.json: "hidden_dropout" must be a probability in \[0, 1\), got 1/],
    ['negative attention dropout', { ...TELECHAT2, attention_dropout: -0.1 }, /"attention_dropout" must be a probability in \[0, 1\), got -0\.1/],
    ['flag of the wrong type', { ...TELECHAT2, embed_layernorm: 'yes' }, /"embed_layernorm" must be true or false, got "yes"/],
  ];
  it('accepts the supported values of the refused keys, reads dropout (52B: resid_pdrop / attn_pdrop)', () => {
    const v1 = parseModelSpec({ ...TELECHAT2, apply_residual_connection_post_layernorm: false, embed_layernorm: false, hidden_dropout: 0.1, attention_dropout: 0.1 });
    expect([v1.hiddenDropout, v1.attentionDropout]).toEqual([0.1, 0.1]);
    expect(parseModelSpec(TELECHAT2).hiddenDropout).toBe(0);
    const b = parseModelSpec({
      ...T52B, relative_encoding: 'rotary', rotary_use_xpos: false, scale_attn_weights: true, embd_pdrop: 0, resid_pdrop: 0.05, attn_pdrop: 0.2,
      // no net effect in Tele-AI's code (reference/telechat.md): accepted
      scale_attn_by_inverse_layer_idx: true,
    });
    expect([b.hiddenDropout, b.attentionDropout]).toEqual([0.05, 0.2]);
  });

  it.each(bad)('bad config: %s', (_what, cfg, message) => {
    const clean = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== undefined));
    expect(() => parseModelSpec(clean, 'config.json')).toThrow(message);
  });
});

describe('a model config.json that is not JSON', () => {
  it('is named as FILE:LINE:COLUMN, as a DeepSpeed config is', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spec-json-'));
    try {
      const path = join(dir, 'config.json');
      writeFileSync(path, '{\n  "hidden_size": 96,\n  "n_layer": 2,,\n  "n_head": 6\n}\n');
      expect(() => loadModelSpec(path)).toThrow(`${path}:3:16: invalid JSON in the model config: expected a property name in double quotes, found ","`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
