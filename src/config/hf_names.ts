// Hugging Face TrainingArguments (and LLaMA-Factory) names users put in a config by habit, with
// where telechat-train takes each setting from: an unknown key with one of these names is refused
// pointing there (the DeepSpeed key, our section's key, or the flag), not with a bare "unknown".
// HF fills a DeepSpeed config's "auto" from these arguments; telechat-train has no such
// arguments, so "auto" takes their defaults (docs/config.md) and a value is set in the config.

export const HF_ARGUMENT_HOMES: Readonly<Record<string, string>> = Object.freeze({
  learning_rate: '"optimizer.params.lr"',
  per_device_train_batch_size: '"train_micro_batch_size_per_gpu"',
  gradient_accumulation_steps: '"gradient_accumulation_steps" (top level)',
  num_train_epochs: '"training.epochs" (--epochs)',
  max_grad_norm: '"gradient_clipping"',
  weight_decay: '"optimizer.params.weight_decay"',
  adam_beta1: '"optimizer.params.betas"',
  adam_beta2: '"optimizer.params.betas"',
  adam_epsilon: '"optimizer.params.eps"',
  optim: '"optimizer.type"',
  lr_scheduler_type: '"scheduler.type"',
  warmup_ratio: '"scheduler.params.warmup_ratio"',
  warmup_steps: '"scheduler.params.warmup_num_steps"',
  bf16: '"bf16": {"enabled": true}',
  fp16: '"fp16": {"enabled": true}',
  logging_steps: '"steps_per_print"',
  deepspeed: '--config (the DeepSpeed config is the file itself)',
  resume_from_checkpoint: '--resume',
  overwrite_output_dir: '--overwrite',
  model_name_or_path: '"model.path" (--model)',
  model_max_length: '"training.max_seq_len" (--max-seq-len)',
  max_seq_length: '"training.max_seq_len" (--max-seq-len)',
  cutoff_len: '"training.max_seq_len" (--max-seq-len)',
  lora_rank: '"lora.r"',
  lora_target: '"lora.target_modules"',
});
