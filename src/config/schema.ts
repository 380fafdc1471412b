// The config schema: DeepSpeed's keys with DeepSpeed's code defaults (v0.16 line, see
// shared/reference/deepspeed.md), plus our optional `model`, `data`, `training` and `lora` sections.
// A default of null means "unset": the resolver derives the value (documented at each key).
import { PEFT_OPTION_DEFAULTS } from './peft_options.js';
import {
  any, anyContent, bool, enabledAnywhere, enabledAtTop, int, num, obj, oneOf, passthrough, sizeAboveOne, str,
  type ObjectSpec, type Spec, type TaggedSpec,
} from './spec.js';

// Every key has its effect, or is `inert` (a warning names it and says why when it is given a
// value other than the one we behave as), or is `unsupported` / a refusing passthrough (an
// error names it and says why). docs/config.md lists them all.

const positiveIntAuto = { above: 0, auto: true, nullable: true } as const;

// ---- precision -------------------------------------------------------------------------

const fp16 = obj({
  enabled: bool(false, { auto: true }), // "auto" -> --fp16 flag, else off (HF default)
  auto_cast: bool(false, { inert: 'the inputs are token ids; activations are fp16 in fp16 mode either way' }),
  loss_scale: num(0, { min: 0 }), // 0 = dynamic loss scaling; > 0 = static scale
  initial_scale_power: int(16, { min: 0, max: 1023 }), // dynamic scale starts at 2^16; 2^1024 is infinite in a double and could never halve to a finite scale
  loss_scale_window: int(1000, { above: 0 }), // clean steps before the scale doubles
  hysteresis: int(2, { above: 0 }), // overflows tolerated before the scale halves
  consecutive_hysteresis: bool(false), // refill hysteresis on every clean step
  min_loss_scale: num(1, { above: 0 }), // the scale never drops below this
  fp16_master_weights_and_grads: bool(false, { unsupported: 'master weights and optimizer math are fp32' }),
});

const SKIPS_NONFINITE = 'a step whose gradients are not finite is always skipped, in every precision';

const bf16 = obj({
  enabled: bool(false, { auto: true }), // "auto" -> --bf16 flag, else off (HF default)
  immediate_grad_update: bool(false, { inert: 'gradients are applied by the optimizer step after accumulation; the timing of the bf16 update does not change it' }),
  bf16_master_weights_and_grads: bool(false, { unsupported: 'master weights and gradients for the optimizer are fp32' }),
  bf16_optimizer_states: bool(false, { unsupported: 'Adam moments are fp32' }),
  // DeepSpeed >= 0.17.1 (pydantic, default true): skip a step whose gradients overflowed.
  check_grad_overflow: bool(true, { inert: SKIPS_NONFINITE }),
  // The name DeepSpeed's bf16 format text documents (default false) but no release reads.
  check_overflow: bool(false, { asIf: true, inert: SKIPS_NONFINITE }),
});

// ---- optimizer -------------------------------------------------------------------------

const adamParams = obj({
  lr: num(1e-3, { min: 0, auto: true }), // torch.optim.Adam's default; "auto" -> 5e-5 (HF)
  betas: { kind: 'array', items: num(null, { min: 0, max: 1 }), length: 2, default: [0.9, 0.999], auto: true },
  eps: num(1e-8, { above: 0, auto: true }),
  weight_decay: num(0, { min: 0, auto: true }),
  // DeepSpeed's Adam is AdamW (decoupled decay) unless adam_w_mode is false; AdamW always is.
  adam_w_mode: bool(true),
  torch_adam: bool(false, { inert: 'there is one Adam implementation; torch.optim would compute the same update' }),
  bias_correction: bool(true, { unsupported: 'Adam always applies bias correction' }),
  amsgrad: bool(false, { unsupported: 'AMSGrad is not implemented' }),
});

// DeepSpeed's own optimizers (runtime/config.py DEEPSPEED_OPTIMIZERS) and the torch.optim
// classes it falls back to: refused by name, not taken for a typo of Adam.
const USE_ADAM = 'use "Adam" or "AdamW"';
const notOptimizer = (what: string): string => `${what} is not implemented; ${USE_ADAM}`;
const TORCH_OPTIMIZERS = ['SGD', 'RMSprop', 'Adadelta', 'Adamax', 'ASGD', 'NAdam', 'RAdam', 'Rprop', 'SparseAdam', 'LBFGS', 'Adafactor'];

export const OPTIMIZER: TaggedSpec = {
  kind: 'tagged',
  ignoreCase: true,
  types: { Adam: adamParams, AdamW: adamParams },
  refused: {
    Adagrad: notOptimizer('Adagrad'),
    Lamb: notOptimizer('LAMB'),
    OneBitAdam: notOptimizer('1-bit Adam (compressed communication)'),
    ZeroOneAdam: notOptimizer('0/1 Adam (compressed communication)'),
    OneBitLamb: notOptimizer('1-bit LAMB (compressed communication)'),
    MuAdam: notOptimizer('muP Adam'),
    MuAdamW: notOptimizer('muP AdamW'),
    MuSGD: notOptimizer('muP SGD'),
    Lion: notOptimizer('Lion'),
    Muon: notOptimizer('Muon'),
    ...Object.fromEntries(TORCH_OPTIMIZERS.map((n) => [n, notOptimizer(`torch.optim.${n}`)])),
  },
  // DeepSpeed's fused-kernel choice for its fp16 (non-ZeRO) optimizer: the same update
  extra: { legacy_fusion: bool(false, { inert: 'a DeepSpeed fp16 optimizer kernel choice; the Adam update is the same' }) },
};

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

// The torch.optim.lr_scheduler classes DeepSpeed falls back to for a type it lacks. Those whose
// arguments a JSON config cannot hold are refused saying so; the rest run (schedules.ts).
const TORCH_NEEDS_CODE = {
  LambdaLR: 'lr_lambda is a Python function',
  MultiplicativeLR: 'lr_lambda is a Python function',
  SequentialLR: 'it chains scheduler objects',
  ChainedScheduler: 'it chains scheduler objects',
  ReduceLROnPlateau: 'it steps on a validation metric, not per update',
};
// torch's own arguments; last_epoch resumes a torch run (checkpoints here carry the position)
const torchLastEpoch = int(-1, { min: -1, max: -1 });
const torchVerbose = bool(false, { inert: 'torch would print each lr; metrics.jsonl records it' });
const torchScheduler = (params: Record<string, Spec>): ObjectSpec => obj({ ...params, last_epoch: torchLastEpoch, verbose: torchVerbose });

// Hugging Face lr_scheduler_type names with a pointer here: the same schedule under our name, or
// the reason torch's counterpart is refused. Others (cosine_with_restarts, polynomial, ...) are
// unsupported types like any other name, with no near-miss suggestion of one of ours.
const HF_SCHEDULER_POINTERS = {
  constant_with_warmup: 'it is "constant" here: give "constant" with warmup_num_steps or warmup_ratio',
  reduce_lr_on_plateau: 'it steps on a validation metric, not per update',
};

export const SCHEDULER: TaggedSpec = {
  kind: 'tagged',
  refused: {
    ...Object.fromEntries(Object.entries(TORCH_NEEDS_CODE).map(([n, why]) => [n, `torch.optim.lr_scheduler.${n} cannot come from a JSON config: ${why}`])),
    ...HF_SCHEDULER_POINTERS,
  },
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
    // DeepSpeed's defaults (runtime/lr_schedules.py); cycle_min_lr and cycle_max_lr have none
    LRRangeTest: obj({
      lr_range_test_min_lr: num(1e-3, { min: 0 }),
      lr_range_test_step_size: int(2000, { above: 0 }),
      lr_range_test_step_rate: num(1.0, { min: 0 }),
      lr_range_test_staircase: bool(false),
      last_batch_iteration: lastBatchIteration,
    }),
    OneCycle: obj({
      cycle_min_lr: num(null, { min: 0, nullable: true }), // required
      cycle_max_lr: num(null, { min: 0, nullable: true }), // required
      decay_lr_rate: num(0, { min: 0 }),
      cycle_first_step_size: int(2000, { above: 0 }),
      cycle_second_step_size: int(null, { above: 0, nullable: true }),
      cycle_first_stair_count: int(0, { min: 0, inert: "DeepSpeed's OneCycle keeps it but never uses it" }),
      cycle_second_stair_count: int(null, { min: 0, nullable: true, inert: "DeepSpeed's OneCycle keeps it but never uses it" }),
      decay_step_size: int(0, { min: 0 }),
      cycle_momentum: bool(true),
      cycle_min_mom: num(0.8, { min: 0, max: 1 }),
      cycle_max_mom: num(0.9, { min: 0, max: 1 }),
      decay_mom_rate: num(0, { min: 0 }),
      last_batch_iteration: lastBatchIteration,
    }),
    cosine: obj({ ...hfWarmup, total_num_steps: hfTotal, num_cycles: num(0.5, { above: 0 }) }, { aliases: hfAliases }),
    linear: obj({ ...hfWarmup, total_num_steps: hfTotal }, { aliases: hfAliases }),
    constant: obj({ ...hfWarmup }, { aliases: hfAliases }),
    // torch 1.13's defaults; no default where torch has none (required: resolve.ts)
    StepLR: torchScheduler({ step_size: int(null, { above: 0, nullable: true }), gamma: num(0.1, { min: 0 }) }),
    MultiStepLR: torchScheduler({ milestones: { kind: 'array', items: int(null, { min: 0 }), default: null, nullable: true }, gamma: num(0.1, { min: 0 }) }),
    ExponentialLR: torchScheduler({ gamma: num(null, { min: 0, nullable: true }) }),
    ConstantLR: torchScheduler({ factor: num(1 / 3, { min: 0, max: 1 }), total_iters: int(5, { min: 0 }) }),
    LinearLR: torchScheduler({ start_factor: num(1 / 3, { above: 0, max: 1 }), end_factor: num(1, { min: 0, max: 1 }), total_iters: int(5, { above: 0 }) }),
    PolynomialLR: torchScheduler({ total_iters: int(5, { above: 0 }), power: num(1, { min: 0 }) }),
    CosineAnnealingLR: torchScheduler({ T_max: int(null, { above: 0, nullable: true }), eta_min: num(0, { min: 0 }) }),
    CosineAnnealingWarmRestarts: torchScheduler({ T_0: int(null, { above: 0, nullable: true }), T_mult: int(1, { min: 1 }), eta_min: num(0, { min: 0 }) }),
    // a per-parameter-group list (max_lr, base_lr, momenta) is refused by its type: one group here
    OneCycleLR: torchScheduler({
      max_lr: num(null, { above: 0, nullable: true }),
      total_steps: int(null, { above: 0, nullable: true }),
      epochs: int(null, { above: 0, nullable: true }),
      steps_per_epoch: int(null, { above: 0, nullable: true }),
      pct_start: num(0.3, { min: 0, max: 1 }),
      anneal_strategy: oneOf(['cos', 'linear'], 'cos'),
      cycle_momentum: bool(true),
      base_momentum: num(0.85, { min: 0, max: 1 }),
      max_momentum: num(0.95, { min: 0, max: 1 }),
      div_factor: num(25, { above: 0 }),
      final_div_factor: num(1e4, { above: 0 }),
      three_phase: bool(false),
    }),
    CyclicLR: torchScheduler({
      base_lr: num(null, { min: 0, nullable: true }),
      max_lr: num(null, { min: 0, nullable: true }),
      step_size_up: int(2000, { above: 0 }),
      step_size_down: int(null, { above: 0, nullable: true }),
      mode: oneOf(['triangular', 'triangular2', 'exp_range'], 'triangular'),
      gamma: num(1, { above: 0 }),
      scale_fn: any(null, { unsupported: 'scale_fn is a Python function, which a JSON config cannot hold (mode and gamma choose the scaling)' }),
      scale_mode: oneOf(['cycle', 'iterations'], null, { nullable: true }),
      cycle_momentum: bool(true),
      base_momentum: num(0.8, { min: 0, max: 1 }),
      max_momentum: num(0.9, { min: 0, max: 1 }),
    }),
  },
};

// ---- ZeRO ------------------------------------------------------------------------------

const offloadDevice = oneOf(['none', 'cpu', 'nvme'], 'none');

const NVME_ONLY = 'only used by NVMe offload, which is not supported';
const PAGEABLE = 'host copies of offloaded tensors use ordinary pageable memory';

const offloadOptimizer = obj({
  device: offloadDevice,
  nvme_path: str(null, { nullable: true, inert: NVME_ONLY }),
  buffer_count: int(4, { above: 0, inert: NVME_ONLY }),
  pin_memory: bool(false, { inert: PAGEABLE }),
  pipeline_read: bool(false, { inert: NVME_ONLY }),
  pipeline_write: bool(false, { inert: NVME_ONLY }),
  fast_init: bool(false, { inert: NVME_ONLY }),
  // DeepSpeed's partial offload (Twin-Flow); with device "cpu" the whole optimizer state moves
  ratio: num(1.0, { min: 0, max: 1, unsupported: 'partial offload (DeepSpeed\'s Twin-Flow, a ratio below 1) does not exist here; device "cpu" offloads the whole optimizer state' }),
  super_offload: bool(false, { unsupported: 'SuperOffload is not implemented; use device "cpu"' }),
  cpuadam_cores_perc: num(0.8, { min: 0, max: 1, inert: 'the CPU Adam uses OMP_NUM_THREADS threads' }),
}, { nullable: true }); // null = no offload, as DeepSpeed's Optional block

const offloadParam = obj({
  device: offloadDevice,
  nvme_path: str(null, { nullable: true, inert: NVME_ONLY }),
  buffer_count: int(5, { above: 0, inert: NVME_ONLY }),
  buffer_size: int(1e8, { above: 0, inert: NVME_ONLY }),
  max_in_cpu: int(1e9, { min: 0, inert: NVME_ONLY }),
  pin_memory: bool(false, { inert: PAGEABLE }),
}, { nullable: true }); // null = no offload, as DeepSpeed's Optional block

// The stage3_* keys only matter at stage 3. Below it, "auto" and DeepSpeed's defaults stay quiet
// (TeleChat's and LLaMA-Factory's stage-1/2 configs carry them); another value is warned about.
const STAGE3 = { onlyWhen: { key: 'stage', value: 3, what: 'at ZeRO stage 3' } } as const;

const BY_BLOCK = 'ZeRO gathers and reduces one model block at a time, so element-count buckets do not apply';
const NO_QUANT = 'communication and weights are never quantized';

export const ZERO: ObjectSpec = obj(
  {
    stage: int(0, { min: 0, max: 3 }),
    contiguous_gradients: bool(true, { inert: 'gradients always live in one flat buffer per block' }),
    reduce_scatter: bool(true, { inert: 'stages 1-3 reduce-scatter and stage 0 all-reduces gradient sums; the result is the same' }),
    reduce_bucket_size: int(5e8, { above: 0, auto: true, inert: BY_BLOCK }), // elements; "auto" -> hidden^2
    use_multi_rank_bucket_allreduce: bool(true, { inert: BY_BLOCK }),
    allgather_partitions: bool(true, { inert: 'updated chunks are always all-gathered' }),
    allgather_bucket_size: int(5e8, { above: 0, inert: BY_BLOCK }), // elements; must be even
    overlap_comm: bool(null, { nullable: true }), // null -> true for stage 3 only (DeepSpeed)
    load_from_fp32_weights: bool(true, { inert: 'a resume always restores the fp32 master weights' }),
    elastic_checkpoint: bool(false, { inert: 'every checkpoint resumes on any world size' }),
    offload_param: offloadParam, // stage 3 only
    offload_optimizer: offloadOptimizer,
    zenflow: passthrough('an empty block enables nothing', { active: anyContent, lacks: 'ZenFlow (stale, asynchronous optimizer updates) is not implemented; every step updates every parameter' }),
    sub_group_size: int(1e9, { above: 0, inert: 'the optimizer steps over each rank\'s chunk of each block' }),
    stage3_prefetch_bucket_size: int(5e7, { ...STAGE3, min: 0, auto: true }), // 0 = no prefetch, > 0 = prefetch the next block; "auto" -> floor(0.9 * hidden^2)
    stage3_param_persistence_threshold: int(1e5, { ...STAGE3, min: 0, auto: true }), // "auto" -> 10 * hidden
    stage3_model_persistence_threshold: int(Number.MAX_SAFE_INTEGER, { ...STAGE3, min: 0, inert: 'only stage3_param_persistence_threshold decides which blocks stay whole' }), // DeepSpeed: sys.maxsize
    stage3_max_live_parameters: int(1e9, { ...STAGE3, min: 0, inert: 'stage 3 holds at most the running block and the prefetched one gathered' }),
    stage3_max_reuse_distance: int(1e9, { ...STAGE3, min: 0, inert: 'a gathered block is released right after its forward or backward' }),
    stage3_gather_16bit_weights_on_model_save: bool(false, { ...STAGE3, asIf: true, inert: 'checkpoints\' hf/ and final/ always hold the gathered weights' }),
    stage3_module_granularity_threshold: int(0, { ...STAGE3, min: 0, inert: BY_BLOCK }),
    stage3_use_all_reduce_for_fetch_params: bool(false, { ...STAGE3, inert: 'blocks are gathered with all-gather' }),
    stage3_allgather_sequential: bool(false, { ...STAGE3, inert: BY_BLOCK }),
    stage3_partition_stream_chunk_size: int(0, { ...STAGE3, min: 0, inert: 'parameters are partitioned block by block at load' }),
    ignore_unused_parameters: bool(true, { inert: 'every parameter of a TeleChat model is used' }),
    legacy_stage1: bool(false, { inert: 'there is one stage-1 implementation' }),
    round_robin_gradients: bool(false, { inert: 'a copy-ordering optimization of DeepSpeed\'s CPU offload; gradients are partitioned the same way' }),
    // DeepSpeed features telechat-train does not have: refused unless at their defaults.
    zero_hpz_partition_size: int(1, { min: 1, unsupported: 'hpZ (a secondary partition of parameters per node) is not implemented' }),
    zero_quantized_weights: bool(false, { unsupported: NO_QUANT }),
    zero_quantized_nontrainable_weights: bool(false, { unsupported: NO_QUANT }),
    zero_quantized_gradients: bool(false, { unsupported: NO_QUANT }),
    zeropp_loco_param: passthrough('an empty block enables nothing', { active: anyContent, lacks: `LoCo-ZeRO++ error feedback needs quantized gradients; ${NO_QUANT}` }),
    mics_shard_size: int(-1, { min: -1, unsupported: 'MiCS (sharding within sub-groups) is not implemented' }),
    mics_hierarchical_params_gather: bool(false, { unsupported: 'MiCS (sharding within sub-groups) is not implemented' }),
    memory_efficient_linear: bool(true, { inert: 'a stage-3 variant of torch linear layers; the C++/CUDA kernels here have one implementation' }),
    pipeline_loading_checkpoint: bool(false, { inert: 'there is no pipeline parallelism' }),
    override_module_apply: bool(true, { inert: 'there are no torch modules' }),
    log_trace_cache_warnings: bool(false, { inert: 'there is no trace cache: blocks are gathered in model order' }),
    enable_sanity_checks: bool(false, { inert: 'ZeRO\'s invariants are checked by the test suite, not at run time' }),
    save_muon_momentum_buffer_in_memory: bool(false, { inert: 'there is no Muon optimizer' }),
    leaf_module: passthrough('TeleChat blocks are the units of ZeRO-3; there are no leaf modules to declare'),
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
      module_granularity_threshold: { to: 'stage3_module_granularity_threshold' },
      use_all_reduce_for_fetch_params: { to: 'stage3_use_all_reduce_for_fetch_params' },
      allgather_sequential: { to: 'stage3_allgather_sequential' },
      stage3_gather_fp16_weights_on_model_save: { to: 'stage3_gather_16bit_weights_on_model_save', deprecated: true },
    },
  },
);

// ---- our sections ----------------------------------------------------------------------

export const DTYPES = ['fp32', 'bf16', 'fp16'] as const;
// DeepSpeed's DtypeEnum (runtime/config.py) names each dtype several ways; data_types.grad_accum_dtype takes them all
const DTYPE_SYNONYMS = {
  float32: 'fp32', float: 'fp32', 'torch.float32': 'fp32',
  bfloat16: 'bf16', 'torch.bfloat16': 'bf16',
  float16: 'fp16', half: 'fp16', 'torch.float16': 'fp16',
} as const;
export const PARAM_KINDS = ['embedding', 'matrix', 'norm', 'bias'] as const;

const model = obj({
  path: str(null, { nullable: true }), // HF checkpoint dir (--model); null = none given
  config: str(null, { nullable: true }), // config.json for random init (--model-config)
  init: oneOf(['pretrained', 'random'], null, { nullable: true }), // --init; null = pretrained with a model path, random for the built-in tiny model (resolve.ts)
  dtype: oneOf(DTYPES, null, { nullable: true }), // dtype of saved HF checkpoints; null = the base checkpoint's
  hidden_dropout: num(null, { min: 0, max: 1, nullable: true }), // residual dropout in training; null = config.json's hidden_dropout (52B: resid_pdrop)
  attention_dropout: num(null, { min: 0, max: 1, nullable: true }), // null = config.json's; > 0 is warned about (not implemented)
});

// Build options: null = unset. A raw --data is built with the default noted at each key; a
// prebuilt dataset dir must agree with every option that is set (DESIGN.md).
const data = obj({
  path: str(null, { nullable: true }), // dataset dir, .jsonl or mixing .json (--data)
  max_seq_len: int(null, { min: 8, nullable: true }), // rows built (the builder needs >= 8); null = training.max_seq_len, else 2048
  template: str(null, { nullable: true }), // chat template for raw input; null = from the model
  format: str(null, { nullable: true }), // raw input format; null = "auto" (detected per line)
  loss_on: oneOf(['all', 'last'], null, { nullable: true }), // which assistant turns carry loss; null = "all"
  pack: bool(null, { nullable: true }), // pack documents into rows of max_seq_len; null = true
  skip_bad: bool(false), // skip malformed raw rows instead of failing (builds only)
  // hold out a fraction (< 1) or a count of conversations into the eval set (raw builds; a
  // prebuilt dir must have been built with the same --val-size); null = none
  val_size: num(null, { above: 0, nullable: true }),
});

const training = obj({
  output_dir: str('output'), // --output-dir
  epochs: num(3, { above: 0 }), // HF num_train_epochs default; --epochs
  max_steps: int(null, { above: 0, max: Number.MAX_SAFE_INTEGER, nullable: true }), // wins over epochs; null = epochs decide; --max-steps (a step count exact in a double)
  // the length the model is set up for (RoPE NTK rule, activation capacity); null = the
  // dataset's max_seq_len; set, it must be >= the dataset's (--max-seq-len)
  max_seq_len: int(null, { above: 0, nullable: true }),
  seed: int(42, { min: 0, max: Number.MAX_SAFE_INTEGER }), // HF default seed; --seed (below 2^53: exact in a double, what data/rng.ts takes)
  save_steps: int(500, { min: 0 }), // HF default; 0 = only the final checkpoint
  save_total_limit: int(null, { above: 0, nullable: true }), // null = keep every checkpoint
  eval_data: str(null, { nullable: true }), // held-out set: dataset dir, .jsonl or mixing .json (--eval-data); null = the data's val/ if any
  eval_steps: int(null, { min: 0, nullable: true }), // evaluate every N steps and after the last; null = save_steps; 0 = only after the last
  save_best: bool(false), // every evaluation also saves a checkpoint; `best` names the lowest eval loss (never pruned)
  early_stopping_patience: int(null, { above: 0, nullable: true }), // stop after N evaluations without improvement; null = never
  log_file: str('train.log'), // relative to output_dir
  gradient_checkpointing: bool(null, { nullable: true }), // null = on iff an activation_checkpointing block is present
  on_nonfinite: oneOf(['skip', 'abort'], 'abort'), // a NaN/Inf loss is a bug signal: stop unless asked to skip
  weight_decay_exclude: { kind: 'array', items: oneOf(PARAM_KINDS, null), default: ['norm', 'bias'] }, // HF convention
});

// LoRA (DESIGN "Files", src/model/lora.ts): present = a LoRA run over a frozen base. PEFT's own
// spellings lora_alpha / lora_dropout are accepted, and so is the rest of LoraConfig(...).to_dict():
// bookkeeping keys warn when they say something, and options we lack (src/checkpoint/peft.ts's
// list, the one the adapter reader checks) are accepted only at their defaults, else refused by name.
const NOT_LORA = 'is a PEFT option telechat-train does not implement';
const PEFT_REASONS: Record<string, string> = {
  modules_to_save: `modules_to_save ${NOT_LORA}: only the adapters train`,
  use_dora: `DoRA ${NOT_LORA}`,
  use_rslora: `rank-stabilised scaling ${NOT_LORA}: the scale is alpha / r`,
  layers_to_transform: `layers_to_transform ${NOT_LORA}: every layer is adapted`,
  init_lora_weights: `init_lora_weights ${NOT_LORA}: A is kaiming-uniform, B zero (or init_adapter)`,
};
const peftOptions: Record<string, Spec> = Object.fromEntries(
  Object.entries(PEFT_OPTION_DEFAULTS).map(([key, def]) => [
    key,
    any(def, { unsupported: `${PEFT_REASONS[key] ?? `${key} ${NOT_LORA}`} (only its default ${JSON.stringify(def)})` }),
  ]),
);
const lora = obj(
  {
    r: int(null, { above: 0, nullable: true, required: true }), // rank
    alpha: num(null, { above: 0, nullable: true }), // null = PEFT's default lora_alpha 8; update = alpha / r * B A
    dropout: num(0, { min: 0, max: 0.999 }), // on each adapted module's input (training only; seeded)
    // the layout's HF module names, or ["all-linear"] ("all-linear" alone too, as PEFT writes it; PEFT
    // reads any other single string as a regular expression, which we do not)
    target_modules: { kind: 'array', items: str(null), default: null, nullable: true, required: true, single: ['all-linear'],
      singleOther: 'one string other than "all-linear" is a regular expression over module paths in PEFT, which telechat-train does not take: give a list of module names, e.g. ["query", "key_value"], or "all-linear"' },
    init_adapter: str(null, { nullable: true }), // a PEFT adapter dir to continue from
    bias: oneOf(['none', 'all', 'lora_only'], 'none', { unsupported: `bias training ${NOT_LORA} (only "none")` }),
    // PEFT's default false is right for nn.Linear; true (GPT-2 Conv1D) warns: the layout decides
    fan_in_fan_out: bool(false, { nullable: true, inert: 'it follows the layout (true for 52B Conv1D modules)' }),
    task_type: str('CAUSAL_LM', { nullable: true, unsupported: 'a TeleChat LoRA run trains a causal language model (only "CAUSAL_LM")' }), // null = PEFT's unset
    peft_type: str('LORA', { unsupported: 'telechat-train trains LoRA adapters only (only "LORA")' }),
    inference_mode: bool(false, { unsupported: 'a LoRA run trains its adapters; inference_mode true would freeze them' }),
    base_model_name_or_path: str(null, { nullable: true, inert: 'the base model is --model (model.path)' }),
    revision: str(null, { nullable: true, inert: 'the base model is a local dir (--model); a Hub revision selects nothing' }),
    auto_mapping: any(null, { inert: 'a Hub auto-class mapping; it does not change training' }),
    peft_version: str(null, { nullable: true, inert: 'it records the PEFT version that wrote the options' }),
    runtime_config: any({ ephemeral_gpu_offload: false }, { inert: 'a PEFT loading option (ephemeral GPU offload); it does not change training' }),
    qalora_group_size: int(16, { above: 0, inert: 'only used by use_qalora, which is not supported' }),
    ...peftOptions,
  },
  { optional: true, aliases: { lora_alpha: { to: 'alpha' }, lora_dropout: { to: 'dropout' } } },
);

// DeepSpeed's monitor blocks (deepspeed/monitor/config.py defaults). An empty output_path
// means the output dir's tensorboard/ or csv_monitor/ (resolve.ts).
const monitor = obj({ enabled: bool(false), output_path: str(''), job_name: str('DeepSpeedJobName') });

// DeepSpeed's WandbConfig and CometConfig (monitor/config.py): the keys those blocks may hold
const optionalStr = (): Spec => str(null, { nullable: true });
const WANDB = obj({ enabled: bool(false), group: optionalStr(), team: optionalStr(), project: str('deepspeed') });
const COMET = obj({
  enabled: bool(false), samples_log_interval: int(100), project: optionalStr(), workspace: optionalStr(), api_key: optionalStr(),
  experiment_name: optionalStr(), experiment_key: optionalStr(), online: bool(null, { nullable: true }), mode: optionalStr(),
});

/** `active` rule for monitor_config: a monitor block inside it with `"enabled": true` (its own top-level `enabled` is LLaMA-Factory's and means nothing). */
function enabledMonitor(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const [k, x] of Object.entries(v)) {
    if (enabledAtTop(x) !== null) return `${k}.enabled`;
  }
  return null;
}

// ---- the whole file --------------------------------------------------------------------

const positiveOrAuto = (def: number | null): Spec => int(def, positiveIntAuto);
const SUMS = 'gradients are summed in fp32 (or grad_accum_dtype) with the 1/label-tokens scale applied before the reduction, so pre- and post-division change nothing';
const NETWORK = 'it sends metrics to a network service; metrics go to metrics.jsonl';
const NO_TP = 'telechat-train has no tensor parallelism: every rank holds whole layers and ZeRO stage 3 shards the parameters instead (set it to 1 or remove the block)';
const NO_SP = 'telechat-train has no sequence parallelism: each rank runs whole sequences';

export const CONFIG: ObjectSpec = obj(
  {
    train_batch_size: positiveOrAuto(null), // null = inferred (DeepSpeed rules)
    train_micro_batch_size_per_gpu: positiveOrAuto(null), // "auto" -> 8 (HF)
    gradient_accumulation_steps: positiveOrAuto(null), // "auto" -> 1 (HF)
    gradient_clipping: num(0, { min: 0, auto: true }), // 0 = off; "auto" -> 1.0 (HF)
    steps_per_print: int(null, { above: 0, nullable: true }), // null -> 10 log lines cadence
    wall_clock_breakdown: bool(false, { inert: 'metrics.jsonl reports step_time_s every step; bench:train profiles kernels' }),
    prescale_gradients: bool(false, { inert: SUMS }),
    gradient_predivide_factor: num(1, { above: 0, inert: SUMS }),
    // null = the training dtype; a warning (resolve.ts) when it differs from the reduction dtype
    // DeepSpeed lower-cases both before matching fp32 / fp16 / bf16
    communication_data_type: oneOf(DTYPES, null, { nullable: true, ignoreCase: true }),
    seq_parallel_communication_data_type: oneOf(DTYPES, 'fp32', { ignoreCase: true, inert: NO_SP }),
    zero_allow_untested_optimizer: bool(false, { asIf: true, inert: 'both optimizers (Adam, AdamW) work with every ZeRO stage' }),
    zero_force_ds_cpu_optimizer: bool(true, { inert: 'offloaded optimizer states always use the CPU Adam' }),
    memory_breakdown: bool(false, { inert: 'metrics.jsonl reports memory per category ("mem") every step' }),
    dump_state: bool(false, { inert: 'OUTPUT/resolved-config.json records the resolved state' }),
    disable_allgather: bool(false, { inert: 'updated chunks are always all-gathered' }),
    graph_harvesting: bool(false, { inert: 'no CUDA graphs are captured' }),
    dataloader_drop_last: bool(false, { asIf: true, inert: 'the last partial global batch of every epoch is always dropped' }),
    vocabulary_size: int(null, { above: 0, nullable: true, inert: 'the vocabulary size comes from the model\'s config.json' }),
    use_data_before_expert_parallelism: bool(false, { inert: 'there is no expert parallelism' }),
    sequence_parallel_size: int(1, { above: 0, unsupported: NO_SP }),
    fp16,
    bf16,
    optimizer: OPTIMIZER, // absent = AdamW with HF TrainingArguments defaults
    scheduler: SCHEDULER, // absent = constant learning rate
    zero_optimization: ZERO,
    activation_checkpointing: obj({
      partition_activations: bool(false, { inert: 'checkpointed activations are not partitioned across ranks (there is no model parallelism)' }),
      contiguous_memory_optimization: bool(false, { inert: 'a DeepSpeed allocator option for checkpointed activations; it does not change what is computed' }),
      cpu_checkpointing: bool(false, { inert: 'checkpointed activations stay in device memory' }),
      number_checkpoints: int(null, { above: 0, nullable: true, inert: 'every transformer block is one checkpoint' }),
      synchronize_checkpoint_boundary: bool(false, { inert: 'a DeepSpeed debugging barrier; results do not depend on it' }),
      profile: bool(false, { inert: 'a DeepSpeed timing log; metrics.jsonl reports step_time_s' }),
    }),
    checkpoint: obj({
      tag_validation: oneOf(['Warn', 'Ignore', 'Fail'], 'Warn', { ignoreCase: true, inert: 'rank 0 names every checkpoint by its step, so ranks cannot disagree on a tag' }),
      load_universal: bool(false, { inert: 'every checkpoint is universal: it resumes on any world size and ZeRO stage' }),
      use_node_local_storage: bool(false, { inert: 'each rank writes its own shard into the shared output dir' }),
      parallel_write: obj({ pipeline_stage: bool(false, { inert: 'there is no pipeline parallelism' }) }),
      // DeepSpeed >= 0.17.1: torch.save's zipfile format, and the FastPersist writer
      checkpoint_serialization: bool(true, { inert: 'checkpoints are safetensors files, not torch.save pickles' }),
      writer: passthrough('each rank writes its safetensors shard with ordinary file I/O; DeepSpeed\'s FastPersist writer settings do not change what is saved'),
    }),
    data_types: obj({ grad_accum_dtype: oneOf(DTYPES, null, { nullable: true, synonyms: DTYPE_SYNONYMS }) }), // null = fp32
    // DeepSpeed blocks kept verbatim in resolved-config.json under "ignored", with a warning.
    // Logging and profiling do not change training, so they are accepted; a block that would
    // (autotuning, elasticity, apex amp, ...) or that needs a network service is refused when
    // it asks for something (`active`).
    flops_profiler: passthrough('metrics.jsonl reports MFU instead'),
    tensorboard: monitor, // event files (src/observe/tensorboard.ts)
    csv_monitor: monitor, // one CSV per tag (src/observe/csv_monitor.ts)
    wandb: passthrough('metrics go to metrics.jsonl', { active: enabledAtTop, lacks: NETWORK, shape: WANDB }),
    comet: passthrough('metrics go to metrics.jsonl', { active: enabledAtTop, lacks: NETWORK, shape: COMET }),
    comms_logger: passthrough('communication is not logged; bench:comm measures it'),
    // LLaMA-Factory's configs carry these two, but they are the names of DeepSpeedConfig's Python
    // attributes, not keys DeepSpeed reads (runtime/config.py builds them from "comms_logger" and
    // from the top-level "tensorboard", "csv_monitor", "wandb", "comet" blocks). DeepSpeed ignores
    // them, so do we, with a warning; a monitor enabled inside is refused rather than left off.
    comms_config: passthrough('DeepSpeed does not read it either; communication logging is the "comms_logger" block'),
    monitor_config: passthrough('DeepSpeed does not read it either; monitors are the top-level "tensorboard", "csv_monitor", "wandb" and "comet" blocks', {
      active: enabledMonitor,
      lacks: 'DeepSpeed does not read "monitor_config", so this monitor would stay off: write it as a top-level block ("tensorboard": {"enabled": true}, ...)',
    }),
    timers: passthrough('metrics.jsonl reports step_time_s and tokens_per_s'),
    autotuning: passthrough('no config search: batch sizes and ZeRO settings are taken as given', { active: enabledAtTop }),
    elasticity: passthrough('the global batch is fixed; resume on another world size keeps it', { active: enabledAtTop }),
    aio: passthrough('only used by NVMe offload, which is refused'),
    amp: passthrough('apex AMP: use the bf16 or fp16 block', { active: enabledAtTop }),
    torch_autocast: passthrough('precision comes from the bf16 / fp16 blocks', { active: enabledAtTop, lacks: 'torch autocast is not implemented; use the bf16 or fp16 block' }),
    sparse_gradients: passthrough('embedding gradients are reduced dense, with the same result'),
    tensor_parallel: passthrough('tensor parallel size 1 is plain data parallelism', { active: sizeAboveOne, lacks: NO_TP }),
    pipeline: passthrough('an empty block asks for nothing', { active: anyContent, lacks: 'telechat-train has no pipeline parallelism: every rank runs every layer' }),
    expert_parallel: passthrough('TeleChat has no experts', { active: enabledAnywhere, lacks: 'TeleChat models have no mixture-of-experts layers' }),
    sparse_attention: passthrough('an empty block asks for nothing', { active: anyContent, lacks: 'attention is always dense and causal (within each packed document)' }),
    compression_training: passthrough('no compression method is enabled', { active: enabledAnywhere, lacks: 'quantization-aware training, pruning and layer reduction are not implemented' }),
    weight_quantization: passthrough('an empty block asks for nothing', { active: anyContent, lacks: 'weights are never quantized' }),
    quantize_training: passthrough('MoQ is not enabled', { active: enabledAnywhere, lacks: 'MoQ (quantize training) is not implemented' }),
    data_efficiency: passthrough('no data-efficiency method is enabled', { active: enabledAnywhere, lacks: 'curriculum learning and random-LTD are not implemented; rows are sampled uniformly per epoch' }),
    curriculum_learning: passthrough('curriculum learning is not enabled', { active: enabledAnywhere, lacks: 'curriculum learning is not implemented; rows are sampled uniformly per epoch' }),
    progressive_layer_drop: passthrough('layer drop is not enabled', { active: enabledAnywhere, lacks: 'progressive layer drop is not implemented; every step runs every layer' }),
    eigenvalue: passthrough('eigenvalue computation is not enabled', { active: enabledAnywhere, lacks: 'Hessian eigenvalue estimation is not implemented' }),
    hybrid_engine: passthrough('the hybrid engine is not enabled', { active: enabledAnywhere, lacks: 'the RLHF hybrid engine (training + generation) is not implemented' }),
    nebula: passthrough('Nebula checkpointing is not enabled', { active: enabledAnywhere, lacks: 'Nebula (Azure) checkpointing is not implemented; checkpoints are written to the output dir' }),
    compile: passthrough('nothing is compiled with torch.compile', { active: (v) => (typeof v === 'object' && v !== null && (v as Record<string, unknown>)['deepcompile'] === true ? 'deepcompile' : null), lacks: 'DeepCompile is not implemented; kernels are ahead-of-time C++/CUDA' }),
    model,
    data,
    training,
    lora,
  },
  { aliases: { bfloat16: { to: 'bf16' } } },
);
