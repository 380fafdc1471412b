// The fully resolved configuration the trainer consumes: no "auto" left, every default
// filled (defaults and their meaning are documented in schema.ts). Plain data: it is written
// verbatim as resolved-config.json.

export type DTypeName = 'fp32' | 'bf16' | 'fp16';
export type ParamKindName = 'embedding' | 'matrix' | 'norm' | 'bias';
export type WarmupType = 'log' | 'linear';
export type OffloadDevice = 'none' | 'cpu' | 'nvme';

export interface Fp16Config {
  enabled: boolean;
  auto_cast: boolean;
  loss_scale: number;
  initial_scale_power: number;
  loss_scale_window: number;
  hysteresis: number;
  consecutive_hysteresis: boolean;
  min_loss_scale: number;
  fp16_master_weights_and_grads: boolean;
}

export interface Bf16Config {
  enabled: boolean;
  immediate_grad_update: boolean;
  bf16_master_weights_and_grads: boolean;
  bf16_optimizer_states: boolean;
  check_grad_overflow: boolean;
  /** Resolved: true (a step with non-finite gradients is always skipped), whatever is given. */
  check_overflow: boolean;
}

export interface AdamParams {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  /** Decoupled weight decay (AdamW). Always true for type AdamW. */
  adam_w_mode: boolean;
  torch_adam: boolean;
  bias_correction: boolean;
}

export interface OptimizerConfig {
  type: 'Adam' | 'AdamW';
  params: AdamParams;
}

export interface WarmupLRParams {
  warmup_min_lr: number;
  warmup_max_lr: number;
  warmup_num_steps: number;
  warmup_type: WarmupType;
  last_batch_iteration: number;
}

export interface WarmupDecayLRParams extends WarmupLRParams {
  total_num_steps: number;
}

export interface WarmupCosineLRParams {
  total_num_steps: number;
  warmup_min_ratio: number;
  warmup_num_steps: number;
  cos_min_ratio: number;
  warmup_type: WarmupType;
  last_batch_iteration: number;
}

/** DeepSpeed's LRRangeTest: lr = min_lr * (1 + step_rate * interval), a sweep upward. */
export interface LRRangeTestParams {
  lr_range_test_min_lr: number;
  lr_range_test_step_size: number;
  lr_range_test_step_rate: number;
  lr_range_test_staircase: boolean;
  last_batch_iteration: number;
}

/** DeepSpeed's OneCycle: one triangle of lr (and, inversely, Adam's beta1), then an optional decay. */
export interface OneCycleParams {
  cycle_min_lr: number;
  cycle_max_lr: number;
  decay_lr_rate: number;
  cycle_first_step_size: number;
  /** null: cycle_first_step_size */
  cycle_second_step_size: number | null;
  decay_step_size: number;
  cycle_momentum: boolean;
  cycle_min_mom: number;
  cycle_max_mom: number;
  decay_mom_rate: number;
  last_batch_iteration: number;
}

/**
 * The torch.optim.lr_scheduler classes DeepSpeed builds from a config (`getattr(torch.optim.
 * lr_scheduler, type)(optimizer, **params)`) that a JSON config can express: closed forms of
 * torch's epoch counter, a factor of the optimizer lr.
 */
export type TorchSchedulerConfig =
  | { type: 'StepLR'; params: { step_size: number; gamma: number } }
  | { type: 'MultiStepLR'; params: { milestones: number[]; gamma: number } }
  | { type: 'ExponentialLR'; params: { gamma: number } }
  | { type: 'ConstantLR'; params: { factor: number; total_iters: number } }
  | { type: 'LinearLR'; params: { start_factor: number; end_factor: number; total_iters: number } }
  | { type: 'PolynomialLR'; params: { total_iters: number; power: number } }
  | { type: 'CosineAnnealingLR'; params: { T_max: number; eta_min: number } }
  | { type: 'CosineAnnealingWarmRestarts'; params: { T_0: number; T_mult: number; eta_min: number } }
  | { type: 'OneCycleLR'; params: OneCycleLRParams }
  | { type: 'CyclicLR'; params: CyclicLRParams };

/**
 * torch's OneCycleLR, total_steps resolved (given, or epochs x steps_per_epoch). It sets the lr
 * itself (the optimizer's is not read) and, with cycle_momentum, Adam's beta1; beta2 is the
 * optimizer's, which torch keeps.
 */
export interface OneCycleLRParams {
  max_lr: number;
  total_steps: number;
  pct_start: number;
  anneal_strategy: 'cos' | 'linear';
  cycle_momentum: boolean;
  base_momentum: number;
  max_momentum: number;
  div_factor: number;
  final_div_factor: number;
  three_phase: boolean;
  beta2: number;
}

/** torch's CyclicLR (scale_fn null: mode and gamma choose the scaling); beta2 as in OneCycleLRParams. */
export interface CyclicLRParams {
  base_lr: number;
  max_lr: number;
  step_size_up: number;
  step_size_down: number;
  mode: 'triangular' | 'triangular2' | 'exp_range';
  gamma: number;
  cycle_momentum: boolean;
  base_momentum: number;
  max_momentum: number;
  beta2: number;
}

/** HF-style schedules: warmup_num_steps is final (ratio already applied); ratio kept for the record. */
export interface HfWarmupParams {
  warmup_ratio: number;
  warmup_num_steps: number;
}

export interface HfDecayParams extends HfWarmupParams {
  total_num_steps: number;
}

export type SchedulerConfig =
  | { type: 'WarmupLR'; params: WarmupLRParams }
  | { type: 'WarmupDecayLR'; params: WarmupDecayLRParams }
  | { type: 'WarmupCosineLR'; params: WarmupCosineLRParams }
  | { type: 'LRRangeTest'; params: LRRangeTestParams }
  | { type: 'OneCycle'; params: OneCycleParams }
  | { type: 'cosine'; params: HfDecayParams & { num_cycles: number } }
  | { type: 'linear'; params: HfDecayParams }
  | { type: 'constant'; params: HfWarmupParams }
  | TorchSchedulerConfig;

export type SchedulerType = SchedulerConfig['type'];

export interface OffloadOptimizerConfig {
  device: OffloadDevice;
  nvme_path: string | null;
  buffer_count: number;
  pin_memory: boolean;
  pipeline_read: boolean;
  pipeline_write: boolean;
  fast_init: boolean;
  ratio: number;
  super_offload: boolean;
  cpuadam_cores_perc: number;
}

export interface OffloadParamConfig {
  device: OffloadDevice;
  nvme_path: string | null;
  buffer_count: number;
  buffer_size: number;
  max_in_cpu: number;
  pin_memory: boolean;
}

export interface ZeroConfig {
  stage: 0 | 1 | 2 | 3;
  contiguous_gradients: boolean;
  reduce_scatter: boolean;
  reduce_bucket_size: number;
  use_multi_rank_bucket_allreduce: boolean;
  allgather_partitions: boolean;
  allgather_bucket_size: number;
  /** Resolved: null in the file means true for stage 3, false otherwise. */
  overlap_comm: boolean;
  load_from_fp32_weights: boolean;
  elastic_checkpoint: boolean;
  offload_param: OffloadParamConfig;
  offload_optimizer: OffloadOptimizerConfig;
  sub_group_size: number;
  stage3_prefetch_bucket_size: number;
  stage3_param_persistence_threshold: number;
  stage3_model_persistence_threshold: number;
  stage3_max_live_parameters: number;
  stage3_max_reuse_distance: number;
  /** Resolved: true (saved weights are always gathered), whatever is given. */
  stage3_gather_16bit_weights_on_model_save: boolean;
  stage3_module_granularity_threshold: number;
  stage3_use_all_reduce_for_fetch_params: boolean;
  stage3_allgather_sequential: boolean;
  stage3_partition_stream_chunk_size: number;
  ignore_unused_parameters: boolean;
  legacy_stage1: boolean;
  round_robin_gradients: boolean;
  zero_hpz_partition_size: number;
  zero_quantized_weights: boolean;
  zero_quantized_nontrainable_weights: boolean;
  zero_quantized_gradients: boolean;
  mics_shard_size: number;
  mics_hierarchical_params_gather: boolean;
  memory_efficient_linear: boolean;
  pipeline_loading_checkpoint: boolean;
  override_module_apply: boolean;
  log_trace_cache_warnings: boolean;
  enable_sanity_checks: boolean;
  save_muon_momentum_buffer_in_memory: boolean;
  /** Blocks kept verbatim when given (zenflow and zeropp_loco_param only when empty). */
  zenflow?: unknown;
  zeropp_loco_param?: unknown;
  leaf_module?: unknown;
}

export interface ActivationCheckpointingConfig {
  partition_activations: boolean;
  contiguous_memory_optimization: boolean;
  cpu_checkpointing: boolean;
  number_checkpoints: number | null;
  synchronize_checkpoint_boundary: boolean;
  profile: boolean;
}

export interface CheckpointConfig {
  tag_validation: 'Warn' | 'Ignore' | 'Fail';
  load_universal: boolean;
  use_node_local_storage: boolean;
  parallel_write: { pipeline_stage: boolean };
  checkpoint_serialization: boolean;
  /** DeepSpeed's FastPersist writer block, kept verbatim when given. */
  writer?: unknown;
}

export interface ModelSection {
  path: string | null;
  config: string | null;
  init: 'pretrained' | 'random';
  dtype: DTypeName | null;
  /** Residual dropout probability; null = the model's config.json value. */
  hidden_dropout: number | null;
  /** Attention-probability dropout; null = config.json's. Not implemented: > 0 warns. */
  attention_dropout: number | null;
}

/** A LoRA run (null: full fine-tuning). */
export interface LoraSection {
  r: number;
  /** Resolved: PEFT's default 8 when unset. */
  alpha: number;
  dropout: number;
  target_modules: string[];
  init_adapter: string | null;
}

export interface DataSection {
  path: string | null;
  /** Resolved: the dataset's; before it is known, what a raw build uses (data, else training, else 2048). */
  max_seq_len: number;
  /** Resolved from the dataset's manifest once it is known. */
  template: string | null;
  format: string | null;
  loss_on: 'all' | 'last';
  pack: boolean;
  skip_bad: boolean;
  /** --val-size of the build: a fraction (< 1) or a count; null = no held-out split. */
  val_size: number | null;
}

export interface TrainingSection {
  output_dir: string;
  epochs: number;
  max_steps: number | null;
  /** Resolved: the dataset's max_seq_len unless set (then at least that). RoPE's NTK rule and the model use it. */
  max_seq_len: number;
  seed: number;
  save_steps: number;
  save_total_limit: number | null;
  /** The held-out set given explicitly (--eval-data); null = the dataset's val/, if it has one. */
  eval_data: string | null;
  /** Evaluate every N optimizer steps and after the last; null = save_steps; 0 = only after the last. */
  eval_steps: number | null;
  save_best: boolean;
  early_stopping_patience: number | null;
  log_file: string;
  /** Resolved: on when set, or when the file has an activation_checkpointing block. */
  gradient_checkpointing: boolean;
  on_nonfinite: 'skip' | 'abort';
  weight_decay_exclude: ParamKindName[];
}

/** Facts of this run the config was resolved against. */
export interface RunInfo {
  world_size: number;
  /** Training precision: bf16/fp16 when their block is enabled, else fp32. */
  precision: DTypeName;
  /** Optimizer steps per epoch (rows // train_batch_size); null when the dataset size was not given. */
  steps_per_epoch: number | null;
  /** Optimizer steps of the whole run; null when neither max_steps nor the dataset size is known. */
  total_steps: number | null;
  /**
   * The scheduler params the run length set, not the config: total_num_steps left to it ("auto", or
   * HF's null), warmup_num_steps given as a ratio of it.
   */
  schedule_from_run_length: string[];
}

/** DeepSpeed's `tensorboard` / `csv_monitor` blocks (rank 0 writes under output_path/job_name). */
export interface MonitorConfig {
  enabled: boolean;
  /** Resolved: the output dir's `tensorboard/` or `csv_monitor/` when the file leaves it "". */
  output_path: string;
  job_name: string;
}

export interface ResolvedConfig {
  train_batch_size: number;
  train_micro_batch_size_per_gpu: number;
  gradient_accumulation_steps: number;
  gradient_clipping: number;
  steps_per_print: number;
  wall_clock_breakdown: boolean;
  prescale_gradients: boolean;
  gradient_predivide_factor: number;
  communication_data_type: DTypeName | null;
  seq_parallel_communication_data_type: DTypeName;
  /** Resolved: true (both optimizers work with every stage), whatever is given. */
  zero_allow_untested_optimizer: boolean;
  zero_force_ds_cpu_optimizer: boolean;
  memory_breakdown: boolean;
  dump_state: boolean;
  disable_allgather: boolean;
  graph_harvesting: boolean;
  /** Resolved: true (the last partial global batch is always dropped), whatever is given. */
  dataloader_drop_last: boolean;
  vocabulary_size: number | null;
  use_data_before_expert_parallelism: boolean;
  sequence_parallel_size: number;
  fp16: Fp16Config;
  bf16: Bf16Config;
  optimizer: OptimizerConfig;
  scheduler: SchedulerConfig;
  zero_optimization: ZeroConfig;
  activation_checkpointing: ActivationCheckpointingConfig;
  checkpoint: CheckpointConfig;
  data_types: { grad_accum_dtype: DTypeName };
  tensorboard: MonitorConfig;
  csv_monitor: MonitorConfig;
  /** Accepted DeepSpeed blocks with no effect here (wandb, flops_profiler, ...), verbatim. */
  ignored: Record<string, unknown>;
  model: ModelSection;
  data: DataSection;
  training: TrainingSection;
  lora: LoraSection | null;
  run: RunInfo;
}
