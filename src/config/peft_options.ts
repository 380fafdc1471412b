// PEFT LoraConfig options telechat-train does not implement, at their defaults. Both places a
// LoRA configuration comes from read them: a config's lora section (schema.ts) and an adapter
// dir's adapter_config.json (checkpoint/peft.ts). At its default an option changes nothing and is
// accepted; any other value is refused by name.
/** An adapter_config.json option beyond these (a later PEFT's) is accepted only when off (null, false, {} or []). */
export const PEFT_OPTION_DEFAULTS: Record<string, unknown> = {
  modules_to_save: null, use_dora: false, use_rslora: false, layers_to_transform: null, layers_pattern: null,
  rank_pattern: {}, alpha_pattern: {}, init_lora_weights: true, layer_replication: null, loftq_config: {},
  megatron_config: null, megatron_core: 'megatron.core', target_parameters: null, trainable_token_indices: null,
  exclude_modules: null, eva_config: null, corda_config: null, use_qalora: false, lora_bias: false,
  alora_invocation_tokens: null, arrow_config: null, ensure_weight_tying: false, lora_ga_config: null, use_bdlora: null,
  velora_config: null, monteclora_config: null, kasa_config: null,
};
