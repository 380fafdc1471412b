// The three TeleChat checkpoint layouts at awkward test sizes, shared by the model parity and
// HF round-trip tests: TeleChat2 GQA untied with the transformer. prefix (hidden 96 with 6 heads
// of 16 and 2 kv heads), the 7B-style tied prefix-less names, and 52B GPT-2-style Conv1D + muP.
export const LAYOUT_CONFIGS: Record<string, Record<string, unknown>> = {
  telechat2_gqa_untied: {
    architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: 96, n_layer: 2, n_head: 6,
    num_key_value_heads: 2, ffn_hidden_size: 160, vocab_size: 301, layer_norm_epsilon: 1e-5,
    tie_word_embeddings: false, training_seqlen: 32, base_seqlen: 16,
  },
  telechat_7b_style_tied_noprefix: {
    architectures: ['TelechatForCausalLM'], model_type: 'telechat', hidden_size: 64, n_layer: 2, n_head: 4,
    ffn_hidden_size: 112, vocab_size: 257, layer_norm_epsilon: 1e-5, training_seqlen: 64, _name_prefix: '',
  },
  telechat_52b_style: {
    architectures: ['TELECHAT'], model_type: 'telechat', n_embd: 64, n_layer: 2, n_head: 4, n_inner: 96,
    vocab_size: 263, n_positions: 24, rotary_theta: 10000, activation_function: 'silu', add_bias_linear: false,
    use_RMSNorm: true, layer_norm_epsilon: 1e-5, use_mup: true, mup_scale_factor: 4.0, output_mult: 1.0,
    input_mult: 1.5, tie_word_embeddings: false,
  },
};
