// Turns a validated config (defaults filled, "auto" still present) into a ResolvedConfig:
// "auto" is filled the way Hugging Face's DeepSpeed integration does (from training
// arguments, with TrainingArguments defaults where nothing was given), the batch triple is
// inferred and checked, and the cross-key rules are enforced.
import { isAbsolute, join, normalize, sep } from 'node:path';
import { inferBatch } from './batch.js';
import { ConfigError, show, type Warnings } from './errors.js';
import { CONFIG } from './schema.js';
import type { ObjectSpec } from './spec.js';
import type { Json, JsonObject, Origin } from './validate.js';
import type {
  AdamParams,
  DTypeName,
  MonitorConfig,
  OptimizerConfig,
  LoraSection,
  ResolvedConfig,
  SchedulerConfig,
  ZeroConfig,
} from './types.js';

/** Hugging Face TrainingArguments that fill "auto" (what its flags would set). */
export interface HfArgs {
  perDeviceTrainBatchSize: number;
  gradientAccumulationSteps: number;
  learningRate: number;
  maxGradNorm: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEpsilon: number;
  weightDecay: number;
  /** Warmup steps; wins over warmupRatio when > 0 (TrainingArguments.get_warmup_steps). */
  warmupSteps: number;
  warmupRatio: number;
  fp16: boolean;
  bf16: boolean;
}

/** TrainingArguments' own defaults: what "auto" becomes when no flag fills it. */
export const HF_DEFAULTS: Readonly<HfArgs> = Object.freeze({
  perDeviceTrainBatchSize: 8,
  gradientAccumulationSteps: 1,
  learningRate: 5e-5,
  maxGradNorm: 1.0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  weightDecay: 0,
  warmupSteps: 0,
  warmupRatio: 0,
  fp16: false,
  bf16: false,
});

export interface ResolveContext {
  /** Data-parallel ranks (default 1). */
  worldSize?: number;
  /** The model's hidden size, for the hidden-size based "auto" bucket sizes. */
  hiddenSize?: number;
  /** Rows in the dataset, to turn epochs into steps (and to size "auto" total/warmup steps). */
  datasetRows?: number;
  /**
   * The dataset is opened later (a first pass for paths, the batch split or the precision): a
   * schedule that needs the run length resolves with a stand-in length no check refuses (this
   * pass's schedule is not used), and the pass with datasetRows resolves it for real.
   */
  runLengthLater?: boolean;
  /** Values that fill "auto" (defaults: HF_DEFAULTS). */
  hf?: Partial<HfArgs>;
  /** The dataset the run reads, once opened: training.max_seq_len follows it, and data options that are set must agree with it. */
  dataset?: DatasetFacts;
}

/** What a dataset's manifest.json records about how it was built (older manifests may lack a field). */
export interface DatasetFacts {
  /** The dataset dir, for messages. */
  dir: string;
  /** True for a dataset dir given as --data (data.path); false when this run built it from raw input. */
  prebuilt: boolean;
  max_seq_len: number;
  template?: string;
  input_format?: string;
  loss_on?: string;
  packed?: boolean;
  /** The manifest's --val-size (undefined: built without a held-out split). */
  val_size?: number;
}

/** Rows built when neither data.max_seq_len nor training.max_seq_len is set. */
export const DEFAULT_MAX_SEQ_LEN = 2048;

/** Log cadence when steps_per_print is unset (DeepSpeed's long-time default). */
export const DEFAULT_STEPS_PER_PRINT = 10;

const PASSTHROUGH_KEYS = Object.entries(CONFIG.fields).filter(([, f]) => f.kind === 'passthrough').map(([k]) => k);

/** What the config said before defaults filled it in, which the resolved values no longer show. */
export interface GivenFacts {
  /** DeepSpeed's activation_checkpointing block was present (it turns gradient checkpointing on). */
  hadActivationCheckpointing?: boolean;
  /** optimizer.params.lr is a number (a file or --set), not "auto" or absent. */
  lrGiven?: boolean;
}

export function resolveConfig(
  cfg: JsonObject,
  origin: Origin,
  ctx: ResolveContext,
  warnings: Warnings,
  given: GivenFacts = {},
): ResolvedConfig {
  const { hadActivationCheckpointing = false, lrGiven = false } = given;
  const hf: HfArgs = { ...HF_DEFAULTS, ...ctx.hf };
  const worldSize = ctx.worldSize ?? 1;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new ConfigError(`world size must be a positive integer, got ${worldSize}`);
  const fail = (path: string, reason: string): never => {
    throw new ConfigError(`${origin(path)}: ${reason}`);
  };
  const auto = <T>(v: Json | undefined, fill: T): T => (v === 'auto' ? fill : (v as T));

  // Precision.
  const fp16 = { ...(cfg['fp16'] as JsonObject) };
  const bf16 = { ...(cfg['bf16'] as JsonObject) };
  fp16['enabled'] = auto(fp16['enabled'], hf.fp16);
  bf16['enabled'] = auto(bf16['enabled'], hf.bf16);
  if (fp16['enabled'] && bf16['enabled']) fail('bf16.enabled', '"fp16.enabled" and "bf16.enabled" are both true; enable at most one');
  const precision: DTypeName = fp16['enabled'] ? 'fp16' : bf16['enabled'] ? 'bf16' : 'fp32';
  // TeleChat's and LLaMA-Factory's DeepSpeed files say "auto" and leave the precision to the HF
  // Trainer's --bf16 / --fp16; here nothing fills it, so a user expecting bf16 is told
  const autoPrecision = ['bf16', 'fp16'].filter((k) => (cfg[k] as JsonObject | undefined)?.['enabled'] === 'auto');
  if (precision === 'fp32' && autoPrecision.length > 0) {
    const keys = autoPrecision.map((k) => `"${k}.enabled"`).join(' and ');
    warnings.push(`${origin(`${autoPrecision[0]}.enabled`)}: ${keys} ${autoPrecision.length > 1 ? 'are' : 'is'} "auto", which no flag fills here: ` +
      'Hugging Face\'s default (false) applies and the run trains in fp32; set "bf16": {"enabled": true} (or --set bf16.enabled=true) to train in bf16');
  }
  warnIdleLossScaling(cfg['fp16'] as JsonObject, precision, origin, warnings);

  // Batch triple: "auto" takes the HF per-device batch and accumulation; "auto" global batch is
  // their product times the world size (HF fills train_batch_size the same way).
  const micro = auto(cfg['train_micro_batch_size_per_gpu'], hf.perDeviceTrainBatchSize) as number | null;
  const gas = auto(cfg['gradient_accumulation_steps'], hf.gradientAccumulationSteps) as number | null;
  const batch = auto(cfg['train_batch_size'], (micro ?? hf.perDeviceTrainBatchSize) * (gas ?? hf.gradientAccumulationSteps) * worldSize) as number | null;
  const triple = inferBatch(batch, micro, gas, worldSize, origin('train_batch_size'));

  // Run length: max_steps wins; else epochs over the dataset with the partial batch dropped.
  const training = { ...(cfg['training'] as JsonObject) };
  const maxSteps = training['max_steps'] as number | null;
  let stepsPerEpoch: number | null = null;
  if (ctx.datasetRows !== undefined) {
    stepsPerEpoch = Math.floor(ctx.datasetRows / triple.train_batch_size);
    if (stepsPerEpoch < 1) {
      const held = ctx.dataset?.val_size !== undefined ? ` after its build held out val_size ${ctx.dataset.val_size} for its eval split (${ctx.dataset.dir}/manifest.json)` : '';
      const named = ctx.dataset === undefined ? 'the dataset' : ctx.dataset.prebuilt ? `the dataset ${ctx.dataset.dir}` : `the data built from data.path (--data) into ${ctx.dataset.dir}`;
      throw new ConfigError(`${named} has ${ctx.datasetRows} rows${held}, fewer than one global batch (train_batch_size ${triple.train_batch_size}, ${origin('train_batch_size')}): ` +
        'give a smaller train_batch_size (or micro batch x accumulation steps x ranks) or more data');
    }
  }
  const totalSteps = maxSteps ?? (stepsPerEpoch === null ? null : Math.ceil((training['epochs'] as number) * stepsPerEpoch));
  if (totalSteps !== null && totalSteps > Number.MAX_SAFE_INTEGER) {
    fail('training.epochs', `"training.epochs" ${show(training['epochs'])} makes ${totalSteps} steps of ${stepsPerEpoch} per epoch, more than a step counter holds exactly (${Number.MAX_SAFE_INTEGER})`);
  }
  const needTotal = (path: string): number =>
    totalSteps ??
    (ctx.runLengthLater ? DEFERRED_RUN_LENGTH : fail(path, `"${path}" needs the run length: set "training.max_steps" (--max-steps) or give the dataset so epochs can be counted`));

  // a warm-up given as a ratio of a length not known yet is 0 in that pass (of the stand-in it would
  // exceed any explicit total_num_steps)
  const deferred = totalSteps === null && ctx.runLengthLater === true;
  // the scheduler settings the run length sets: a total left to it, a warm-up given as its ratio
  const fromRunLength = new Set<string>();
  const ratioWarmup = (path: string, ratio: number): number => {
    if (!(ratio > 0 && !deferred)) return 0;
    fromRunLength.add('warmup_num_steps');
    return Math.ceil(needTotal(path) * ratio);
  };

  const optimizer = resolveOptimizer(cfg['optimizer'] as JsonObject | undefined, hf, warnings, origin, fail);
  const runLengthTotal = (path: string): number => {
    fromRunLength.add('total_num_steps');
    return needTotal(path);
  };
  const scheduler = resolveScheduler(cfg['scheduler'] as JsonObject | undefined, optimizer.params, lrGiven, hf, needTotal, runLengthTotal, ratioWarmup, fail, warnings, origin);
  const zero = resolveZero(cfg['zero_optimization'] as JsonObject, ctx.hiddenSize, fail, warnings, origin);

  const ignored: Record<string, unknown> = {};
  for (const key of PASSTHROUGH_KEYS) if (cfg[key] !== undefined) ignored[key] = cfg[key];

  if (hadActivationCheckpointing && training['gradient_checkpointing'] === false) {
    warnings.push(`${origin('activation_checkpointing')}: the "activation_checkpointing" block has no effect: ${origin('training.gradient_checkpointing')} sets "training.gradient_checkpointing" to false, so no block is recomputed`);
  }
  training['gradient_checkpointing'] = (training['gradient_checkpointing'] as boolean | null) ?? hadActivationCheckpointing;
  const logFile = training['log_file'] as string;
  if (!isInsideRelative(logFile)) {
    fail('training.log_file', `"training.log_file" ${show(logFile)} must name a file inside the output dir, relative to it (e.g. "train.log" or "logs/train.log")`);
  }
  const data = resolveData(cfg['data'] as JsonObject, training, ctx.dataset, fail, warnings, origin);
  const dataTypes = cfg['data_types'] as JsonObject;
  const gradAccum = (dataTypes['grad_accum_dtype'] as DTypeName | null) ?? 'fp32';
  const commDtype = cfg['communication_data_type'] as DTypeName | null;
  if (commDtype !== null && commDtype !== gradAccum) {
    warnings.push(
      `${origin('communication_data_type')}: "communication_data_type": ${show(commDtype)} has no effect in telechat-train ` +
        `(gradients are reduced in the accumulation dtype, data_types.grad_accum_dtype = ${show(gradAccum)})`,
    );
  }

  const resolved = {
    ...triple,
    gradient_clipping: auto(cfg['gradient_clipping'], hf.maxGradNorm),
    steps_per_print: (cfg['steps_per_print'] as number | null) ?? DEFAULT_STEPS_PER_PRINT,
    wall_clock_breakdown: cfg['wall_clock_breakdown'],
    prescale_gradients: cfg['prescale_gradients'],
    gradient_predivide_factor: cfg['gradient_predivide_factor'],
    communication_data_type: cfg['communication_data_type'],
    seq_parallel_communication_data_type: cfg['seq_parallel_communication_data_type'],
    zero_allow_untested_optimizer: cfg['zero_allow_untested_optimizer'],
    zero_force_ds_cpu_optimizer: cfg['zero_force_ds_cpu_optimizer'],
    memory_breakdown: cfg['memory_breakdown'],
    dump_state: cfg['dump_state'],
    disable_allgather: cfg['disable_allgather'],
    graph_harvesting: cfg['graph_harvesting'],
    dataloader_drop_last: cfg['dataloader_drop_last'],
    vocabulary_size: cfg['vocabulary_size'],
    use_data_before_expert_parallelism: cfg['use_data_before_expert_parallelism'],
    sequence_parallel_size: cfg['sequence_parallel_size'],
    fp16,
    bf16,
    optimizer,
    scheduler,
    zero_optimization: zero,
    activation_checkpointing: cfg['activation_checkpointing'],
    checkpoint: cfg['checkpoint'],
    data_types: { grad_accum_dtype: gradAccum },
    tensorboard: monitorBlock(cfg['tensorboard'] as JsonObject, join(training['output_dir'] as string, 'tensorboard')),
    csv_monitor: monitorBlock(cfg['csv_monitor'] as JsonObject, join(training['output_dir'] as string, 'csv_monitor')),
    ignored,
    model: resolveModelInit(cfg['model'] as JsonObject, fail),
    data,
    training,
    lora: resolveLora(cfg['lora'] as JsonObject | undefined, fail),
    run: { world_size: worldSize, precision, steps_per_epoch: stepsPerEpoch, total_steps: totalSteps, schedule_from_run_length: [...fromRunLength].sort() },
  };
  // Every field above is either validated against schema.ts or computed here; the cast only
  // forgets the Json-ness. test/unit/config.test.ts checks no "auto" survives.
  return resolved as unknown as ResolvedConfig;
}

type Fail = (path: string, reason: string) => never;

const DYNAMIC_SCALING_KEYS = ['initial_scale_power', 'loss_scale_window', 'hysteresis', 'consecutive_hysteresis', 'min_loss_scale'];

/**
 * fp16 loss-scale keys that cannot act get a warning naming them (DeepSpeed ignores them
 * silently): all of them when fp16 is off, the dynamic scaler's beside a static loss_scale. Only
 * values other than DeepSpeed's defaults say something; an "enabled": "auto" block is meant for
 * either precision (LLaMA-Factory's configs tune it for the fp16 case), so it stays quiet.
 */
function warnIdleLossScaling(given: JsonObject, precision: DTypeName, origin: Origin, warnings: Warnings): void {
  if (given['enabled'] === 'auto') return;
  const spec = CONFIG.fields['fp16'] as ObjectSpec;
  const said = (key: string): boolean => given[key] !== (spec.fields[key] as { default: unknown }).default;
  const warn = (key: string, why: string): number => warnings.push(`${origin(`fp16.${key}`)}: "fp16.${key}": ${show(given[key])} has no effect in telechat-train (${why})`);
  if (precision !== 'fp16') {
    for (const key of ['loss_scale', ...DYNAMIC_SCALING_KEYS]) {
      if (said(key)) warn(key, `fp16 loss scaling only applies when "fp16.enabled" is true; it is false, the run is ${precision}`);
    }
  } else if (given['loss_scale'] !== 0) {
    for (const key of DYNAMIC_SCALING_KEYS) {
      if (said(key)) warn(key, `it tunes dynamic loss scaling, and "fp16.loss_scale" ${show(given['loss_scale'])} is a static scale`);
    }
  }
}

/** A relative path naming a file below its base dir: not empty, absolute, a dir ("x/", "."), or climbing out (".."). */
function isInsideRelative(path: string): boolean {
  if (path === '' || isAbsolute(path) || /[\\/]$/.test(path)) return false;
  const n = normalize(path);
  return n !== '.' && n !== '..' && !n.startsWith(`..${sep}`);
}

/** The run length a pass with runLengthLater stands in: longer than any warm-up a check compares it with. */
const DEFERRED_RUN_LENGTH = 2 ** 40;

/**
 * model.init: pretrained weights need a model dir; with none the run trains the built-in tiny
 * model from random init; a bare --model-config has no weights, so it takes --init random.
 */
function resolveModelInit(m: JsonObject, fail: Fail): JsonObject {
  const { path, config, init } = m as { path: string | null; config: string | null; init: 'pretrained' | 'random' | null };
  if (path !== null) {
    // the architecture comes from the model dir's config.json: another one would be ignored
    if (config !== null) fail('model.config', `"model.config" ${config} with "model.path" ${path}: the model dir's config.json is the architecture; give one of the two (--model-config or --model)`);
    return { ...m, init: init ?? 'pretrained' };
  }
  if (config !== null) {
    if (init !== 'random') fail('model.init', `${config} gives no weights: pass --init random, or --model DIR for a checkpoint`);
    return m;
  }
  if (init === 'pretrained') fail('model.init', '"model.init" is "pretrained" but no model is given: pass --model DIR (model.path), or leave init unset to train the built-in tiny model from random init');
  return { ...m, init: 'random' };
}

/** The lora section: r and target_modules are required; alpha defaults to PEFT's 8. */
function resolveLora(b: JsonObject | undefined, fail: Fail): LoraSection | null {
  if (b === undefined) return null;
  const r = b['r'] as number | null;
  if (r === null) fail('lora.r', '"lora.r" (the adapter rank) is required in a lora section');
  const targets = b['target_modules'] as string[] | null;
  if (targets === null || targets.length === 0) fail('lora.target_modules', '"lora.target_modules" is required: the layout\'s HF module names (e.g. ["query", "key_value"]) or ["all-linear"]');
  return { r: r!, alpha: (b['alpha'] as number | null) ?? 8, dropout: b['dropout'] as number, target_modules: targets!, init_adapter: b['init_adapter'] as string | null };
}

/** A monitor block with its default place filled: "" = under the output dir. */
function monitorBlock(b: JsonObject, defaultPath: string): MonitorConfig {
  const path = b['output_path'] as string;
  return { enabled: b['enabled'] as boolean, output_path: path === '' ? defaultPath : path, job_name: b['job_name'] as string };
}

function resolveOptimizer(
  block: JsonObject | undefined,
  hf: HfArgs,
  warnings: Warnings,
  origin: Origin,
  fail: Fail,
): OptimizerConfig {
  const filled: AdamParams = {
    lr: hf.learningRate,
    betas: [hf.adamBeta1, hf.adamBeta2],
    eps: hf.adamEpsilon,
    weight_decay: hf.weightDecay,
    adam_w_mode: true,
    torch_adam: false,
    bias_correction: true,
  };
  // No optimizer block: Hugging Face builds its own AdamW from the training arguments.
  if (block === undefined) return { type: 'AdamW', params: filled };
  const type = block['type'] as 'Adam' | 'AdamW';
  const p = block['params'] as JsonObject;
  const params: AdamParams = {
    lr: p['lr'] === 'auto' ? filled.lr : (p['lr'] as number),
    betas: p['betas'] === 'auto' ? filled.betas : (p['betas'] as [number, number]),
    eps: p['eps'] === 'auto' ? filled.eps : (p['eps'] as number),
    weight_decay: p['weight_decay'] === 'auto' ? filled.weight_decay : (p['weight_decay'] as number),
    adam_w_mode: p['adam_w_mode'] as boolean,
    torch_adam: p['torch_adam'] as boolean,
    bias_correction: p['bias_correction'] as boolean,
  };
  if (type === 'AdamW' && !params.adam_w_mode) {
    // DeepSpeed: the AdamW type always decouples weight decay.
    warnings.push(`${origin('optimizer.params.adam_w_mode')}: "optimizer.params.adam_w_mode": false is ignored for type AdamW (always decoupled weight decay)`);
    params.adam_w_mode = true;
  }
  return { type, params };
}

function resolveScheduler(
  block: JsonObject | undefined,
  opt: AdamParams,
  lrGiven: boolean,
  hf: HfArgs,
  needTotal: (path: string) => number,
  runLengthTotal: (path: string) => number,
  ratioWarmup: (path: string, ratio: number) => number,
  fail: Fail,
  warnings: Warnings,
  origin: Origin,
): SchedulerConfig {
  if (block === undefined) return { type: 'constant', params: { warmup_ratio: 0, warmup_num_steps: 0 } };
  const lr = opt.lr;
  const type = block['type'] as SchedulerConfig['type'];
  const p = { ...(block['params'] as JsonObject) };
  const at = (key: string): string => `scheduler.params.${key}`;
  // TrainingArguments.get_warmup_steps: warmup_steps if > 0 else ceil(total * warmup_ratio).
  const hfWarmup = (key: string): number =>
    hf.warmupSteps > 0 ? hf.warmupSteps : ratioWarmup(at(key), hf.warmupRatio);
  // DeepSpeed's own schedules set the lr from their settings: an lr the config gives is then inert
  const ownLr = (settings: string): void => {
    if (lrGiven) warnings.push(`${origin('optimizer.params.lr')}: "optimizer.params.lr" ${show(lr)} has no effect: scheduler ${type} sets the lr from ${settings}, as DeepSpeed's does`);
  };

  switch (type) {
    case 'WarmupLR':
    case 'WarmupDecayLR': {
      const params = {
        warmup_min_lr: p['warmup_min_lr'] === 'auto' ? 0 : (p['warmup_min_lr'] as number),
        warmup_max_lr: p['warmup_max_lr'] === 'auto' ? lr : (p['warmup_max_lr'] as number),
        warmup_num_steps: p['warmup_num_steps'] === 'auto' ? hfWarmup('warmup_num_steps') : (p['warmup_num_steps'] as number),
        warmup_type: p['warmup_type'] as 'log' | 'linear',
        last_batch_iteration: p['last_batch_iteration'] as number,
      };
      // (DeepSpeed's own examples give both the same number: nothing is lost then)
      if (p['warmup_max_lr'] !== 'auto' && params.warmup_max_lr !== lr) {
        ownLr(`"${at('warmup_min_lr')}" ${show(params.warmup_min_lr)} up to "${at('warmup_max_lr')}" ${show(params.warmup_max_lr)} ("auto" follows the optimizer's lr)`);
      }
      if (type === 'WarmupLR') return { type, params };
      const total = totalOf(p, 'total_num_steps', type, runLengthTotal, fail);
      if (total < Math.max(2, params.warmup_num_steps)) {
        warnings.push(`${origin(at('total_num_steps'))}: "${at('total_num_steps')}" ${total} is less than warmup_num_steps ${params.warmup_num_steps}`);
      }
      return { type, params: { ...params, total_num_steps: total } };
    }
    case 'WarmupCosineLR': {
      const warmup = p['warmup_num_steps'] === 'auto' ? hfWarmup('warmup_num_steps') : (p['warmup_num_steps'] as number);
      const total = totalOf(p, 'total_num_steps', type, runLengthTotal, fail);
      // DeepSpeed divides by (total - max(2, warmup)) after warmup: zero or negative is meaningless.
      if (total <= Math.max(2, warmup)) {
        fail(at('total_num_steps'), `"${at('total_num_steps')}" (${total}) must exceed the warmup steps (max(2, ${warmup}) = ${Math.max(2, warmup)}) for WarmupCosineLR`);
      }
      return {
        type,
        params: {
          total_num_steps: total,
          warmup_min_ratio: p['warmup_min_ratio'] as number,
          warmup_num_steps: warmup,
          cos_min_ratio: p['cos_min_ratio'] as number,
          warmup_type: p['warmup_type'] as 'log' | 'linear',
          last_batch_iteration: p['last_batch_iteration'] as number,
        },
      };
    }
    case 'LRRangeTest':
      ownLr(`"${at('lr_range_test_min_lr')}" ${show(p['lr_range_test_min_lr'])} upwards`);
      return {
        type,
        params: {
          lr_range_test_min_lr: p['lr_range_test_min_lr'] as number,
          lr_range_test_step_size: p['lr_range_test_step_size'] as number,
          lr_range_test_step_rate: p['lr_range_test_step_rate'] as number,
          lr_range_test_staircase: p['lr_range_test_staircase'] as boolean,
          last_batch_iteration: p['last_batch_iteration'] as number,
        },
      };
    case 'OneCycle': {
      // DeepSpeed takes both bounds as required arguments
      const bound = (key: string): number => {
        const v = p[key] as number | null;
        return v === null ? fail(at(key), `scheduler OneCycle needs "${at(key)}" (a learning rate)`) : v;
      };
      const params = {
        cycle_min_lr: bound('cycle_min_lr'),
        cycle_max_lr: bound('cycle_max_lr'),
        decay_lr_rate: p['decay_lr_rate'] as number,
        cycle_first_step_size: p['cycle_first_step_size'] as number,
        cycle_second_step_size: p['cycle_second_step_size'] as number | null,
        decay_step_size: p['decay_step_size'] as number,
        cycle_momentum: p['cycle_momentum'] as boolean,
        cycle_min_mom: p['cycle_min_mom'] as number,
        cycle_max_mom: p['cycle_max_mom'] as number,
        decay_mom_rate: p['decay_mom_rate'] as number,
        last_batch_iteration: p['last_batch_iteration'] as number,
      };
      ownLr(`"${at('cycle_min_lr')}" ${show(params.cycle_min_lr)} to "${at('cycle_max_lr')}" ${show(params.cycle_max_lr)}`);
      if (params.cycle_momentum) {
        // as DeepSpeed's OneCycle sets the optimizer's betas itself: say which configured ones lose
        warnings.push(`${origin(at('cycle_momentum'))}: "${at('cycle_momentum')}" is true: Adam's beta1 cycles between cycle_min_mom ` +
          `${params.cycle_min_mom} and cycle_max_mom ${params.cycle_max_mom} and beta2 is 0.99, in place of optimizer.params.betas, as DeepSpeed's OneCycle sets them`);
      }
      return { type, params };
    }
    case 'StepLR':
    case 'MultiStepLR':
    case 'ExponentialLR':
    case 'ConstantLR':
    case 'LinearLR':
    case 'PolynomialLR':
    case 'CosineAnnealingLR': {
      // torch's arguments without a default must be given, as torch's constructor requires them
      const required = { StepLR: 'step_size', MultiStepLR: 'milestones', ExponentialLR: 'gamma', CosineAnnealingLR: 'T_max' } as Record<string, string>;
      const need = required[type];
      if (need !== undefined && p[need] === null) fail(at(need), `scheduler torch.optim.lr_scheduler.${type} needs "${at(need)}"`);
      const { last_epoch: _epoch, verbose: _verbose, ...params } = p;
      return { type, params } as SchedulerConfig;
    }
    case 'CosineAnnealingWarmRestarts': {
      if (p['T_0'] === null) fail(at('T_0'), `scheduler torch.optim.lr_scheduler.${type} needs "${at('T_0')}"`);
      return { type, params: { T_0: p['T_0'] as number, T_mult: p['T_mult'] as number, eta_min: p['eta_min'] as number } };
    }
    case 'OneCycleLR':
    case 'CyclicLR': {
      // both set the lr themselves (torch overwrites the optimizer's) and, with cycle_momentum,
      // Adam's beta1 (OneCycleLR in torch 1.13, CyclicLR from torch 2.2; beta2 stays the optimizer's)
      const need = (key: string): number => (p[key] === null ? fail(at(key), `scheduler torch.optim.lr_scheduler.${type} needs "${at(key)}"`) : (p[key] as number));
      const lrKeys = type === 'OneCycleLR' ? 'max_lr / div_factor up to max_lr' : 'base_lr up to max_lr';
      warnings.push(`${origin('optimizer.params.lr')}: "optimizer.params.lr" ${show(lr)} has no effect: torch.optim.lr_scheduler.${type} sets the lr itself (${lrKeys})`);
      if (p['cycle_momentum'] as boolean) {
        warnings.push(`${origin(at('cycle_momentum'))}: "${at('cycle_momentum')}" is true: Adam's beta1 cycles between base_momentum ` +
          `${show(p['base_momentum'] as number)} and max_momentum ${show(p['max_momentum'] as number)} in place of optimizer.params.betas[0] (beta2 stays ${show(opt.betas[1])}), as torch sets it`);
      }
      const momentum = { cycle_momentum: p['cycle_momentum'] as boolean, base_momentum: p['base_momentum'] as number, max_momentum: p['max_momentum'] as number, beta2: opt.betas[1] };
      if (type === 'CyclicLR') {
        const mode = p['mode'] as 'triangular' | 'triangular2' | 'exp_range';
        // torch reads scale_mode only beside a scale_fn; without one, the mode sets it
        if (p['scale_mode'] !== null) warnings.push(`${origin(at('scale_mode'))}: "${at('scale_mode')}" has no effect without a scale_fn: mode ${show(mode)} sets it, as in torch`);
        if (mode !== 'exp_range' && p['gamma'] !== 1) warnings.push(`${origin(at('gamma'))}: "${at('gamma')}" is read by mode "exp_range" only (mode is ${show(mode)})`);
        return {
          type,
          params: {
            base_lr: need('base_lr'), max_lr: need('max_lr'), step_size_up: p['step_size_up'] as number,
            step_size_down: (p['step_size_down'] as number | null) ?? (p['step_size_up'] as number), mode, gamma: p['gamma'] as number, ...momentum,
          },
        };
      }
      // torch: total_steps, else epochs x steps_per_epoch; it raises once stepped past total_steps
      let total = p['total_steps'] as number | null;
      if (total === null) {
        if (p['epochs'] === null || p['steps_per_epoch'] === null) {
          fail(at('total_steps'), `scheduler torch.optim.lr_scheduler.OneCycleLR needs "${at('total_steps')}", or "${at('epochs')}" and "${at('steps_per_epoch')}"`);
        }
        total = (p['epochs'] as number) * (p['steps_per_epoch'] as number);
      } else if (p['epochs'] !== null || p['steps_per_epoch'] !== null) {
        warnings.push(`${origin(at('total_steps'))}: "${at('total_steps')}" is given, so epochs and steps_per_epoch have no effect, as in torch`);
      }
      const run = needTotal(at('total_steps'));
      if (run !== DEFERRED_RUN_LENGTH && run > total) {
        fail(at('total_steps'), `the run has ${run} optimizer steps, more than OneCycleLR's total_steps ${total} (torch raises when stepped past it)`);
      }
      const maxLr = need('max_lr');
      const pct = p['pct_start'] as number;
      const three = p['three_phase'] as boolean;
      // torch's phase ends: float(pct_start * total) - 1 (and 2 pct_start * total - 2 with three_phase), then total - 1
      const ends = three ? [pct * total - 1, 2 * pct * total - 2, total - 1] : [pct * total - 1, total - 1];
      if (ends.some((e, i) => e <= (i === 0 ? 0 : ends[i - 1]!))) {
        fail(at('pct_start'), `"${at('pct_start')}" ${show(pct)} with total_steps ${total} leaves a phase of OneCycleLR without steps (torch divides by its length)`);
      }
      return {
        type,
        params: {
          max_lr: maxLr, total_steps: total, pct_start: pct, anneal_strategy: p['anneal_strategy'] as 'cos' | 'linear', div_factor: p['div_factor'] as number,
          final_div_factor: p['final_div_factor'] as number, three_phase: three, ...momentum,
        },
      };
    }
    case 'cosine':
    case 'linear':
    case 'constant': {
      const ratio = (p['warmup_ratio'] as number | null) ?? 0;
      const steps = p['warmup_num_steps'] as number | 'auto' | null;
      let warmup: number;
      if (steps === 'auto') warmup = hfWarmup('warmup_num_steps');
      else if (steps !== null && steps > 0) {
        warmup = steps; // HF: explicit steps win over the ratio
        if (ratio > 0) {
          warnings.push(`${origin(at('warmup_ratio'))}: "${at('warmup_ratio')}" ${ratio} has no effect: "${at('warmup_num_steps')}" ${steps} is given and wins over it, as in Hugging Face`);
        }
      }
      else warmup = ratioWarmup(at('warmup_ratio'), ratio);
      if (type === 'constant') return { type, params: { warmup_ratio: ratio, warmup_num_steps: warmup } };
      const t = p['total_num_steps'] as number | 'auto' | null;
      const total = t === null || t === 'auto' ? runLengthTotal(at('total_num_steps')) : t;
      if (warmup > total) fail(at('warmup_num_steps'), `warmup steps (${warmup}) exceed "${at('total_num_steps')}" (${total})`);
      if (type === 'linear') return { type, params: { warmup_ratio: ratio, warmup_num_steps: warmup, total_num_steps: total } };
      return { type, params: { warmup_ratio: ratio, warmup_num_steps: warmup, total_num_steps: total, num_cycles: p['num_cycles'] as number } };
    }
  }
}

function totalOf(p: JsonObject, key: string, type: string, runLengthTotal: (path: string) => number, fail: Fail): number {
  const v = p[key] as number | 'auto' | null;
  if (v === 'auto') return runLengthTotal(`scheduler.params.${key}`);
  if (v === null) return fail(`scheduler.params.${key}`, `scheduler ${type} needs "scheduler.params.${key}" (a number, or "auto" for the run length)`);
  return v;
}

function resolveZero(z0: JsonObject, hidden: number | undefined, fail: Fail, warnings: Warnings, origin: Origin): ZeroConfig {
  const z = { ...z0 };
  const at = (key: string): string => `zero_optimization.${key}`;
  // Hugging Face derives these from the model's hidden size.
  const byHidden: [string, (h: number) => number][] = [
    ['reduce_bucket_size', (h) => h * h],
    ['stage3_prefetch_bucket_size', (h) => Math.floor(0.9 * h * h)],
    ['stage3_param_persistence_threshold', (h) => 10 * h],
  ];
  for (const [key, rule] of byHidden) {
    if (z[key] !== 'auto') continue;
    if (hidden === undefined) fail(at(key), `"${at(key)}" is "auto": the model's hidden size is needed to resolve it (give the model, or a number)`);
    z[key] = rule(hidden);
  }
  const stage = z['stage'] as number;
  z['overlap_comm'] = (z['overlap_comm'] as boolean | null) ?? stage === 3;
  if ((z['allgather_bucket_size'] as number) % 2 !== 0) {
    fail(at('allgather_bucket_size'), `"${at('allgather_bucket_size')}" must be even, got ${z['allgather_bucket_size']}`);
  }
  const offOpt = z['offload_optimizer'] as JsonObject;
  const offParam = z['offload_param'] as JsonObject;
  for (const [key, block] of [['offload_optimizer', offOpt], ['offload_param', offParam]] as const) {
    if (block['device'] === 'nvme') fail(at(`${key}.device`), `"${at(`${key}.device`)}": "nvme" is not supported: NVMe offload is not implemented (use "cpu" or "none")`);
  }
  if (offOpt['device'] !== 'none' && stage === 0) fail(at('offload_optimizer.device'), `"${at('offload_optimizer')}" needs ZeRO stage 1, 2 or 3 (stage is 0)`);
  if (offParam['device'] !== 'none' && stage !== 3) {
    // as in DeepSpeed, whose stages 1 and 2 never read it; recorded as what the run does
    const key = at('offload_param.device');
    warnings.push(`${origin(key)}: "${key}": ${JSON.stringify(offParam['device'])} has no effect in telechat-train (parameter offload is part of ZeRO stage 3; the stage is ${stage})`);
    z['offload_param'] = { ...offParam, device: 'none' };
  }
  return z as unknown as ZeroConfig;
}

/**
 * max_seq_len and the build options (DESIGN.md): before the dataset is known, the values a raw
 * build uses; once it is known, training.max_seq_len follows it unless set (then it must be at
 * least the dataset's), and every data option that is set must be what the dataset was built with.
 */
function resolveData(
  data0: JsonObject,
  training: JsonObject,
  ds: DatasetFacts | undefined,
  fail: Fail,
  warnings: Warnings,
  origin: Origin,
): JsonObject {
  const data = { ...data0 };
  // what checkValSize (data/builder.ts) asks of a build's --val-size, refused here with its origin
  const valSize = data['val_size'] as number | null;
  if (valSize !== null && valSize >= 1 && !Number.isInteger(valSize)) {
    fail('data.val_size', `"data.val_size" must be a fraction in (0, 1) or a whole number of conversations >= 1, got ${valSize}`);
  }
  const trainLen = training['max_seq_len'] as number | null;
  const dataLen = data['max_seq_len'] as number | null;
  const tooShort = (len: number, rows: number, where: string): never =>
    fail(
      'training.max_seq_len',
      `"training.max_seq_len" ${len} is smaller than ${where} ${rows}: rows of up to ${rows} tokens would not fit; raise it, or leave it unset to follow the data`,
    );
  if (ds === undefined) {
    if (trainLen !== null && dataLen !== null && trainLen < dataLen) tooShort(trainLen, dataLen, '"data.max_seq_len"');
    data['max_seq_len'] = dataLen ?? trainLen ?? DEFAULT_MAX_SEQ_LEN;
    training['max_seq_len'] = trainLen ?? data['max_seq_len'];
    data['loss_on'] = data['loss_on'] ?? 'all';
    data['pack'] = data['pack'] ?? true;
    return data;
  }
  const manifest = `${ds.dir}/manifest.json`;
  if (ds.prebuilt) {
    // option key, value given, what the manifest records (undefined: an older manifest without it)
    const checks: [string, Json, unknown][] = [
      ['max_seq_len', dataLen, ds.max_seq_len],
      ['template', data['template'] as Json, ds.template],
      ['format', data['format'] as Json, ds.input_format],
      ['loss_on', data['loss_on'] as Json, ds.loss_on],
      ['pack', data['pack'] as Json, ds.packed],
      ['val_size', data['val_size'] as Json, ds.val_size ?? null],
    ];
    for (const [key, given, built] of checks) {
      if (given === null) continue;
      const path = `data.${key}`;
      if (built === undefined) {
        fail(path, `"${path}" is ${show(given)} but ${manifest} does not record how the dataset was built for it; remove the option or rebuild the dataset`);
      }
      if (given !== built) {
        fail(
          path,
          `"${path}" is ${show(given)} but the dataset ${ds.dir} was built with ${key} ${show(built)} (its manifest.json); ` +
            `build options do not apply to a built dataset: remove the option (--set ${path}=null) or rebuild the dataset`,
        );
      }
    }
    if (data['skip_bad'] === true) {
      warnings.push(`${origin('data.skip_bad')}: "data.skip_bad": true has no effect in telechat-train (the dataset ${ds.dir} is already built; it only applies to builds)`);
    }
  }
  if (trainLen !== null && trainLen < ds.max_seq_len) tooShort(trainLen, ds.max_seq_len, `the dataset's max_seq_len (${manifest})`);
  training['max_seq_len'] = trainLen ?? ds.max_seq_len;
  data['max_seq_len'] = ds.max_seq_len;
  data['template'] = ds.template ?? data['template'] ?? null;
  data['format'] = ds.input_format ?? data['format'] ?? null;
  data['loss_on'] = ds.loss_on ?? data['loss_on'] ?? 'all';
  data['pack'] = ds.packed ?? data['pack'] ?? true;
  return data;
}
