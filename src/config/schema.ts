// The config schema: DeepSpeed's keys with DeepSpeed's code defaults (v0.16 line, see
// shared/reference/deepspeed.md), plus our optional `model`, `data` and `training` sections.
// A default of null means "unset": the resolver derives the value (documented at each key).
import { bool, int, num, obj, oneOf, passthrough, str, type ObjectSpec, type Spec, type TaggedSpec } from './spec.js';

const positiveIntAuto = { above: 0, auto: true, nullable: true } as const;

// ---- precision -------------------------------------------------------------------------

const fp16 = obj({
  enabled: bool(false, { auto: true }), // "auto" -> --fp16 flag, else off (HF default)
  auto_cast: bool(false), // DeepSpeed casts inputs to fp16 when true; our engine always does in fp16 mode
  loss_scale: num(0, { min: 0 }), // 0 = dynamic loss scaling; > 0 = static scale
  initial_scale_power: int(16, { min: 0 }), // dynamic scale starts at 2^16
  loss_scale_window: int(1000, { above: 0 }), // clean steps before the scale doubles
  hysteresis: int(2, { above: 0 }), // overflows tolerated before the scale halves
  consecutive_hysteresis: bool(false), // refill hysteresis on every clean step
  min_loss_scale: num(1, { above: 0 }), // the scale never drops below this
  fp16_master_weights_and_grads: bool(false), // DeepSpeed experiment; must stay false here
});

const bf16 = obj({
  enabled: bool(false, { auto: true }), // "auto" -> --bf16 flag, else off (HF default)
  immediate_grad_update: bool(false), // DeepSpeed bf16 optimizer detail; no effect here
});

// ---- optimizer -------------------------------------------------------------------------

const adamParams = obj({
  lr: num(1e-3, { min: 0, auto: true }), // torch.optim.Adam's default; "auto" -> 5e-5 (HF)
  betas: { kind: 'array', items: num(null, { min: 0, max: 1 }), length: 2, default: [0.9, 0.999], auto: true },
  eps: num(1e-8, { above: 0, auto: true }),
  weight_decay: num(0, { min: 0, auto: true }),
  // DeepSpeed's Adam is AdamW (decoupled decay) unless adam_w_mode is false; AdamW always is.
  adam_w_mode: bool(true),
  torch_adam: bool(false), // DeepSpeed: use torch.optim instead of its fused kernel; same math here
  bias_correction: bool(true), // FusedAdam option; only true is implemented
});

export const OPTIMIZER: TaggedSpec = { kind: 'tagged', ignoreCase: true, types: { Adam: adamParams, AdamW: adamParams } };

// ---- scheduler -------------------------------------------------------------------------

const warmupType = oneOf(['log', 'linear'], 'log');
const lastBatchIteration = int(-1, { min: -1 }); // DeepSpeed resume point; -1 = fresh start

const warmupLR = {
  warmup_min_lr: num(0, { min: 0, auto: true }), // "auto" -> 0 (HF)
  warmup_max_lr: num(0.001, { min: 0, auto: true }), // "auto" -> the optimizer lr (HF)
  warmup_num_steps: int(1000, { min: 0, auto: true }), // DeepSpeed clamps to >= 2; "auto" -> warmup steps
  warmup_type: warmupType,
  last_batch_iteration: lastBatchIteration,
};

// HF-style schedules (get_{cosine,linear,constant}_schedule_with_warmup): a ratio of the
// optimizer lr. warmup_num_steps wins when > 0, else ceil(total * warmup_ratio), as HF does.
const hfWarmup = {
  warmup_ratio: num(null, { min: 0, max: 1, nullable: true }), // null = 0
  warmup_num_steps: int(null, { min: 0, auto: true, nullable: true }), // null = from warmup_ratio
};
const hfAliases = {
  warmup_proportion: { to: 'warmup_ratio' }, // the name TeleChat's own scripts use
  warmup_steps: { to: 'warmup_num_steps' },
};
const hfTotal = int(null, { above: 0, auto: true, nullable: true }); // null/"auto" = the run length

export const SCHEDULER: TaggedSpec = {
  kind: 'tagged',
  types: {
    WarmupLR: obj(warmupLR),
    WarmupDecayLR: obj({ ...warmupLR, total_num_steps: int(null, { above: 0, auto: true, nullable: true }) }), // required (or "auto")
    WarmupCosineLR: obj({
      total_num_steps: int(null, { above: 0, auto: true, nullable: true }), // required (or "auto")
      warmup_min_ratio: num(0, { min: 0, max: 1 }),
      warmup_num_steps: int(1000, { min: 0, auto: true }),
      cos_min_ratio: num(1e-4, { min: 0, max: 1 }),
      warmup_type: warmupType,
      last_batch_iteration: lastBatchIteration,
    }),
    cosine: obj({ ...hfWarmup, total_num_steps: hfTotal, num_cycles: num(0.5, { above: 0 }) }, { aliases: hfAliases }),
    linear: obj({ ...hfWarmup, total_num_steps: hfTotal }, { aliases: hfAliases }),
    constant: obj({ ...hfWarmup }, { aliases: hfAliases }),
  },
};

// ---- ZeRO ------------------------------------------------------------------------------

const offloadDevice = oneOf(['none', 'cpu', 'nvme'], 'none');

const offloadOptimizer = obj({
  device: offloadDevice,
  nvme_path: str(null, { nullable: true }),
  buffer_count: int(4, { above: 0 }),
  pin_memory: bool(false),
  pipeline_read: bool(false),
  pipeline_write: bool(false),
  fast_init: bool(false),
  ratio: num(1.0, { min: 0, max: 1 }), // fraction of optimizer states offloaded
});

const offloadParam = obj({
  device: offloadDevice,
  nvme_path: str(null, { nullable: true }),
  buffer_count: int(5, { above: 0 }),
  buffer_size: int(1e8, { above: 0 }),
  max_in_cpu: int(1e9, { min: 0 }),
  pin_memory: bool(false),
});

export const ZERO: ObjectSpec = obj(
  {
    stage: int(0, { min: 0, max: 3 }),
    contiguous_gradients: bool(true),
    reduce_scatter: bool(true),
    reduce_bucket_size: int(5e8, { above: 0, auto: true }), // elements; "auto" -> hidden^2
    use_multi_rank_bucket_allreduce: bool(true),
    allgather_partitions: bool(true),
    allgather_bucket_size: int(5e8, { above: 0 }), // elements; must be even
    overlap_comm: bool(null, { nullable: true }), // null -> true for stage 3 only (DeepSpeed)
    load_from_fp32_weights: bool(true),
    elastic_checkpoint: bool(false),
    offload_param: offloadParam, // stage 3 only
    offload_optimizer: offloadOptimizer,
    sub_group_size: int(1e9, { above: 0 }),
    stage3_prefetch_bucket_size: int(5e7, { min: 0, auto: true }), // "auto" -> floor(0.9 * hidden^2)
    stage3_param_persistence_threshold: int(1e5, { min: 0, auto: true }), // "auto" -> 10 * hidden
    stage3_model_persistence_threshold: int(Number.MAX_SAFE_INTEGER, { min: 0 }), // DeepSpeed: sys.maxsize
    stage3_max_live_parameters: int(1e9, { min: 0 }),
    stage3_max_reuse_distance: int(1e9, { min: 0 }),
    stage3_gather_16bit_weights_on_model_save: bool(false),
    ignore_unused_parameters: bool(true),
    legacy_stage1: bool(false),
    round_robin_gradients: bool(false),
    // DeepSpeed features telechat-train does not have: refused unless at their defaults (resolve.ts).
    zero_hpz_partition_size: int(1, { min: 1 }),
    zero_quantized_weights: bool(false),
    zero_quantized_nontrainable_weights: bool(false),
    zero_quantized_gradients: bool(false),
    mics_shard_size: int(-1, { min: -1 }),
    mics_hierarchical_params_gather: bool(false),
    memory_efficient_linear: bool(true),
    pipeline_loading_checkpoint: bool(false),
    override_module_apply: bool(true),
    log_trace_cache_warnings: bool(false),
  },
  {
    // DeepSpeed's pydantic field names without the stage3_ prefix, and the deprecated fp16 name.
    // (cpu_offload, cpu_offload_param, cpu_offload_use_pin_memory are rewritten in legacy.ts.)
    aliases: {
      prefetch_bucket_size: { to: 'stage3_prefetch_bucket_size' },
      param_persistence_threshold: { to: 'stage3_param_persistence_threshold' },
      model_persistence_threshold: { to: 'stage3_model_persistence_threshold' },
      max_live_parameters: { to: 'stage3_max_live_parameters' },
      max_reuse_distance: { to: 'stage3_max_reuse_distance' },
      gather_16bit_weights_on_model_save: { to: 'stage3_gather_16bit_weights_on_model_save' },
      stage3_gather_fp16_weights_on_model_save: { to: 'stage3_gather_16bit_weights_on_model_save', deprecated: true },
    },
  },
);

// ---- our sections ----------------------------------------------------------------------

export const DTYPES = ['fp32', 'bf16', 'fp16'] as const;
export const PARAM_KINDS = ['embedding', 'matrix', 'norm', 'bias'] as const;

const model = obj({
  path: str(null, { nullable: true }), // HF checkpoint dir (--model); null = none given
  config: str(null, { nullable: true }), // config.json for random init (--model-config)
  init: oneOf(['pretrained', 'random'], 'pretrained'), // --init
  dtype: oneOf(DTYPES, null, { nullable: true }), // dtype of saved HF checkpoints; null = the base checkpoint's
});

const data = obj({
  path: str(null, { nullable: true }), // dataset dir, .jsonl or mixing .json (--data)
  max_seq_len: int(null, { above: 0, nullable: true }), // for on-the-fly builds; null = training.max_seq_len
  template: str(null, { nullable: true }), // chat template for raw input; null = from the model
  format: str(null, { nullable: true }), // raw input format; null = detected
  loss_on: oneOf(['all', 'last'], 'all'), // which assistant turns carry loss
  pack: bool(true), // pack documents into rows of max_seq_len
  skip_bad: bool(false), // skip malformed raw rows instead of failing
});

const training = obj({
  output_dir: str('output'), // --output-dir
  epochs: num(3, { above: 0 }), // HF num_train_epochs default; --epochs
  max_steps: int(null, { above: 0, nullable: true }), // wins over epochs; null = epochs decide; --max-steps
  max_seq_len: int(2048, { above: 0 }), // longest row fed to the model
  seed: int(42, { min: 0 }), // HF default seed; --seed
  save_steps: int(500, { min: 0 }), // HF default; 0 = only the final checkpoint
  save_total_limit: int(null, { above: 0, nullable: true }), // null = keep every checkpoint
  log_file: str('train.log'), // relative to output_dir
  gradient_checkpointing: bool(null, { nullable: true }), // null = on iff an activation_checkpointing block is present
  on_nonfinite: oneOf(['skip', 'abort'], 'abort'), // a NaN/Inf loss is a bug signal: stop unless asked to skip
  weight_decay_exclude: { kind: 'array', items: oneOf(PARAM_KINDS, null), default: ['norm', 'bias'] }, // HF convention
});

// DeepSpeed's monitor blocks (deepspeed/monitor/config.py defaults). An empty output_path
// means the output dir's tensorboard/ or csv_monitor/ (resolve.ts).
const monitor = obj({ enabled: bool(false), output_path: str(''), job_name: str('DeepSpeedJobName') });

// ---- the whole file --------------------------------------------------------------------

const positiveOrAuto = (def: number | null): Spec => int(def, positiveIntAuto);

export const CONFIG: ObjectSpec = obj(
  {
    train_batch_size: positiveOrAuto(null), // null = inferred (DeepSpeed rules)
    train_micro_batch_size_per_gpu: positiveOrAuto(null), // "auto" -> 8 (HF)
    gradient_accumulation_steps: positiveOrAuto(null), // "auto" -> 1 (HF)
    gradient_clipping: num(0, { min: 0, auto: true }), // 0 = off; "auto" -> 1.0 (HF)
    steps_per_print: int(null, { above: 0, nullable: true }), // null -> 10 log lines cadence
    wall_clock_breakdown: bool(false),
    prescale_gradients: bool(false),
    gradient_predivide_factor: num(1, { above: 0 }),
    communication_data_type: oneOf(DTYPES, null, { nullable: true }), // null = the training dtype
    zero_allow_untested_optimizer: bool(false),
    zero_force_ds_cpu_optimizer: bool(true),
    memory_breakdown: bool(false),
    dump_state: bool(false),
    fp16,
    bf16,
    optimizer: OPTIMIZER, // absent = AdamW with HF TrainingArguments defaults
    scheduler: SCHEDULER, // absent = constant learning rate
    zero_optimization: ZERO,
    activation_checkpointing: obj({
      partition_activations: bool(false),
      contiguous_memory_optimization: bool(false),
      cpu_checkpointing: bool(false),
      number_checkpoints: int(null, { above: 0, nullable: true }),
      synchronize_checkpoint_boundary: bool(false),
      profile: bool(false),
    }),
    checkpoint: obj({
      tag_validation: oneOf(['Warn', 'Ignore', 'Fail'], 'Warn', { ignoreCase: true }),
      load_universal: bool(false),
      use_node_local_storage: bool(false),
      parallel_write: obj({ pipeline_stage: bool(false) }),
    }),
    data_types: obj({ grad_accum_dtype: oneOf(DTYPES, null, { nullable: true }) }), // null = fp32
    // DeepSpeed blocks kept verbatim in resolved-config.json under "ignored", with a warning.
    // Logging and profiling do not change training, so they are accepted; a block that would
    // (autotuning, elasticity, apex amp) is refused when enabled.
    flops_profiler: passthrough('metrics.jsonl reports MFU instead'),
    tensorboard: monitor, // event files (src/observe/tensorboard.ts)
    wandb: passthrough('metrics go to metrics.jsonl'),
    csv_monitor: monitor, // one CSV per tag (src/observe/csv_monitor.ts)
    comms_logger: passthrough('communication is not logged; bench:comm measures it'),
    autotuning: passthrough('no config search: batch sizes and ZeRO settings are taken as given', { refuseEnabled: true }),
    elasticity: passthrough('the global batch is fixed; resume on another world size keeps it', { refuseEnabled: true }),
    aio: passthrough('only used by NVMe offload, which is refused'),
    amp: passthrough('apex AMP: use the bf16 or fp16 block', { refuseEnabled: true }),
    sparse_gradients: passthrough('embedding gradients are reduced dense, with the same result'),
    model,
    data,
    training,
  },
  { aliases: { bfloat16: { to: 'bf16' } } },
);
