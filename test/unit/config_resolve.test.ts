// Resolution: DeepSpeed's code defaults, Hugging Face "auto" filling, DeepSpeed's batch
// inference, overrides, legacy forms, TeleChat2's own configs and the shipped configs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseSetArg, resolveConfigObject, resolvedConfigJson, type LoadOptions, type ResolvedConfig } from '../../src/config/index.js';
import { CONFIG } from '../../src/config/schema.js';
import type { ObjectSpec, Spec } from '../../src/config/spec.js';

const resolve = (cfg: object, opts: LoadOptions = {}): ResolvedConfig => resolveConfigObject(cfg, 'test.json', opts).config;
const warningsOf = (cfg: object, opts: LoadOptions = {}): string[] => resolveConfigObject(cfg, 'test.json', opts).warnings;
const ok = { train_micro_batch_size_per_gpu: 1 };

/** Every string value in a JSON tree, with its dotted path. */
function strings(v: unknown, path = ''): [string, string][] {
  if (typeof v === 'string') return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}.${i}`));
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => strings(x, path ? `${path}.${k}` : k));
  return [];
}

/** Dotted paths of every key the schema declares (optimizer/scheduler/passthrough blocks excluded). */
function schemaPaths(spec: ObjectSpec, path = ''): string[] {
  return Object.entries(spec.fields).flatMap(([k, f]) => {
    const p = path ? `${path}.${k}` : k;
    if (f.kind === 'object') return [p, ...schemaPaths(f, p)];
    if (f.kind === 'tagged' || f.kind === 'passthrough') return [];
    return [p];
  });
}

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

describe('defaults', () => {
  it("fills DeepSpeed's code defaults and ours", () => {
    const c = resolve(ok);
    expect(c.gradient_clipping).toBe(0);
    expect(c.steps_per_print).toBe(10);
    // an inert key with a "behaves as" value records it: resolved-config.json says what the run does
    expect([c.wall_clock_breakdown, c.prescale_gradients, c.zero_allow_untested_optimizer, c.dataloader_drop_last]).toEqual([false, false, true, true]);
    expect(c.gradient_predivide_factor).toBe(1);
    expect(c.communication_data_type).toBeNull();
    expect(c.fp16).toEqual({
      enabled: false,
      auto_cast: false,
      loss_scale: 0,
      initial_scale_power: 16,
      loss_scale_window: 1000,
      hysteresis: 2,
      consecutive_hysteresis: false,
      min_loss_scale: 1,
      fp16_master_weights_and_grads: false,
    });
    expect(c.bf16.enabled).toBe(false);
    const z = c.zero_optimization;
    expect(z.stage).toBe(0);
    expect([z.contiguous_gradients, z.reduce_scatter, z.overlap_comm, z.round_robin_gradients]).toEqual([true, true, false, false]);
    expect([z.reduce_bucket_size, z.allgather_bucket_size, z.sub_group_size]).toEqual([5e8, 5e8, 1e9]);
    expect([z.stage3_prefetch_bucket_size, z.stage3_param_persistence_threshold]).toEqual([5e7, 1e5]);
    expect([z.stage3_max_live_parameters, z.stage3_max_reuse_distance]).toEqual([1e9, 1e9]);
    expect(z.stage3_gather_16bit_weights_on_model_save).toBe(true); // behaves as
    expect(z.offload_optimizer).toMatchObject({ device: 'none', pin_memory: false });
    expect(z.offload_param).toMatchObject({ device: 'none', pin_memory: false });
    expect(c.activation_checkpointing).toMatchObject({ partition_activations: false, cpu_checkpointing: false, number_checkpoints: null });
    expect(c.checkpoint).toMatchObject({ tag_validation: 'Warn', load_universal: false });
    expect(c.data_types.grad_accum_dtype).toBe('fp32');
    // No optimizer block: HF's own AdamW with TrainingArguments defaults. No scheduler: constant.
    expect(c.optimizer).toEqual({
      type: 'AdamW',
      params: { lr: 5e-5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, adam_w_mode: true, torch_adam: false, bias_correction: true },
    });
    expect(c.scheduler).toEqual({ type: 'constant', params: { warmup_ratio: 0, warmup_num_steps: 0 } });
    expect(c.training).toEqual({
      output_dir: 'output',
      epochs: 3,
      max_steps: null,
      max_seq_len: 2048,
      seed: 42,
      save_steps: 500,
      save_total_limit: null,
      eval_data: null,
      eval_steps: null,
      save_best: false,
      early_stopping_patience: null,
      log_file: 'train.log',
      gradient_checkpointing: false,
      on_nonfinite: 'abort',
      weight_decay_exclude: ['norm', 'bias'],
    });
    expect(c.model).toEqual({ path: null, config: null, init: 'random', dtype: null, hidden_dropout: null, attention_dropout: null });
    expect(c.data).toMatchObject({ path: null, max_seq_len: 2048, loss_on: 'all', pack: true });
    expect(c.run).toEqual({ world_size: 1, precision: 'fp32', steps_per_epoch: null, total_steps: null, schedule_from_run_length: [] });
  });

  it('DeepSpeed optimizer params default to torch Adam values', () => {
    const c = resolve({ ...ok, optimizer: { type: 'Adam', params: {} } });
    expect(c.optimizer).toEqual({
      type: 'Adam',
      params: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, adam_w_mode: true, torch_adam: false, bias_correction: true },
    });
    expect(resolve({ ...ok, optimizer: { type: 'Adam', params: { adam_w_mode: false } } }).optimizer.params.adam_w_mode).toBe(false);
  });

  it('overlap_comm defaults to true only for stage 3', () => {
    for (const stage of [0, 1, 2, 3]) {
      expect(resolve({ ...ok, zero_optimization: { stage } }).zero_optimization.overlap_comm).toBe(stage === 3);
    }
    expect(resolve({ ...ok, zero_optimization: { stage: 3, overlap_comm: false } }).zero_optimization.overlap_comm).toBe(false);
  });

  it('precision: fp32 unless a block enables bf16 or fp16', () => {
    expect(resolve(ok).run.precision).toBe('fp32');
    expect(resolve({ ...ok, bf16: { enabled: true } }).run.precision).toBe('bf16');
    expect(resolve({ ...ok, fp16: { enabled: true } }).run.precision).toBe('fp16');
    expect(resolve({ ...ok, data_types: { grad_accum_dtype: 'bf16' } }).data_types.grad_accum_dtype).toBe('bf16');
  });

  it('gradient checkpointing follows an activation_checkpointing block unless set', () => {
    expect(resolve({ ...ok, activation_checkpointing: {} }).training.gradient_checkpointing).toBe(true);
    expect(resolve({ ...ok, activation_checkpointing: {}, training: { gradient_checkpointing: false } }).training.gradient_checkpointing).toBe(false);
    expect(resolve({ ...ok, training: { gradient_checkpointing: true } }).training.gradient_checkpointing).toBe(true);
  });

  it('data.max_seq_len follows training.max_seq_len unless set', () => {
    expect(resolve({ ...ok, training: { max_seq_len: 512 } }).data.max_seq_len).toBe(512);
    expect(resolve({ ...ok, training: { max_seq_len: 512 }, data: { max_seq_len: 128 } }).data.max_seq_len).toBe(128);
  });
});

describe('"auto" the Hugging Face way', () => {
  const allAuto = {
    train_batch_size: 'auto',
    train_micro_batch_size_per_gpu: 'auto',
    gradient_accumulation_steps: 'auto',
    gradient_clipping: 'auto',
    fp16: { enabled: 'auto' },
    bf16: { enabled: 'auto' },
    optimizer: { type: 'AdamW', params: { lr: 'auto', betas: 'auto', eps: 'auto', weight_decay: 'auto' } },
    scheduler: { type: 'WarmupDecayLR', params: { warmup_min_lr: 'auto', warmup_max_lr: 'auto', warmup_num_steps: 'auto', total_num_steps: 'auto' } },
    zero_optimization: { stage: 3, reduce_bucket_size: 'auto', stage3_prefetch_bucket_size: 'auto', stage3_param_persistence_threshold: 'auto' },
  };

  it('takes TrainingArguments defaults when no flag fills it', () => {
    const c = resolve(allAuto, { context: { hiddenSize: 64, datasetRows: 100 } });
    expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([8, 8, 1]);
    expect(c.gradient_clipping).toBe(1.0);
    expect([c.fp16.enabled, c.bf16.enabled]).toEqual([false, false]);
    expect(c.optimizer.params).toMatchObject({ lr: 5e-5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 });
    expect(c.zero_optimization.reduce_bucket_size).toBe(64 * 64);
    expect(c.zero_optimization.stage3_prefetch_bucket_size).toBe(3686); // floor(0.9 * 4096 = 3686.4)
    expect(c.zero_optimization.stage3_param_persistence_threshold).toBe(640);
    // 100 rows // 8 = 12 steps per epoch (partial batch dropped), 3 epochs = 36 steps, no warmup.
    expect(c.run).toMatchObject({ steps_per_epoch: 12, total_steps: 36 });
    expect(c.scheduler).toEqual({
      type: 'WarmupDecayLR',
      params: { warmup_min_lr: 0, warmup_max_lr: 5e-5, warmup_num_steps: 0, warmup_type: 'log', last_batch_iteration: -1, total_num_steps: 36 },
    });
    expect(strings(c).filter(([, v]) => v === 'auto')).toEqual([]);
  });

  it('takes the training arguments when given', () => {
    const hf = { perDeviceTrainBatchSize: 4, gradientAccumulationSteps: 2, learningRate: 1e-4, maxGradNorm: 0.5, adamBeta1: 0.8, adamBeta2: 0.9, adamEpsilon: 1e-6, weightDecay: 0.1, warmupRatio: 0.1, bf16: true };
    const c = resolve(allAuto, { context: { hiddenSize: 10, datasetRows: 100, worldSize: 2, hf } });
    expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([16, 4, 2]);
    expect(c.gradient_clipping).toBe(0.5);
    expect([c.fp16.enabled, c.bf16.enabled, c.run.precision]).toEqual([false, true, 'bf16']);
    expect(c.optimizer.params).toMatchObject({ lr: 1e-4, betas: [0.8, 0.9], eps: 1e-6, weight_decay: 0.1 });
    expect([c.zero_optimization.reduce_bucket_size, c.zero_optimization.stage3_prefetch_bucket_size, c.zero_optimization.stage3_param_persistence_threshold]).toEqual([100, 90, 100]);
    // 100 // 16 = 6 steps per epoch, 18 in 3 epochs, warmup ceil(18 * 0.1) = 2.
    expect(c.run).toMatchObject({ world_size: 2, steps_per_epoch: 6, total_steps: 18 });
    expect(c.scheduler.params).toMatchObject({ warmup_max_lr: 1e-4, warmup_num_steps: 2, total_num_steps: 18 });
    // warmup steps > 0 win over the ratio (TrainingArguments.get_warmup_steps).
    const c2 = resolve(allAuto, { context: { hiddenSize: 10, datasetRows: 100, hf: { ...hf, warmupSteps: 5 } } });
    expect(c2.scheduler.params).toMatchObject({ warmup_num_steps: 5 });
    // fp16 from its flag.
    expect(resolve(allAuto, { context: { hiddenSize: 10, hf: { fp16: true }, datasetRows: 100 } }).run.precision).toBe('fp16');
  });

  it('max_steps wins over epochs; fractional epochs round up like HF', () => {
    const c = resolve(allAuto, { context: { hiddenSize: 8, datasetRows: 100 }, flags: { maxSteps: 7 } });
    expect(c.run).toMatchObject({ steps_per_epoch: 12, total_steps: 7 });
    expect(c.scheduler.params).toMatchObject({ total_num_steps: 7 });
    expect(resolve(allAuto, { context: { hiddenSize: 8, datasetRows: 100 }, flags: { epochs: 1.5 } }).run.total_steps).toBe(18);
    // No dataset size needed when max_steps is known.
    expect(resolve(allAuto, { context: { hiddenSize: 8 }, flags: { maxSteps: 7 } }).run).toMatchObject({ steps_per_epoch: null, total_steps: 7 });
  });

  it('"auto" global batch with an explicit micro batch uses it', () => {
    const c = resolve({ train_batch_size: 'auto', train_micro_batch_size_per_gpu: 4, gradient_accumulation_steps: 'auto' }, { context: { worldSize: 2 } });
    expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([8, 4, 1]);
  });

  it('an optimizer lr the config gives is named inert where a DeepSpeed schedule sets the lr from its own settings', () => {
    const warn = (scheduler: object, optimizer: object | null = { type: 'AdamW', params: { lr: 2e-5 } }): string[] =>
      resolveConfigObject({ ...ok, ...(optimizer ? { optimizer } : {}), scheduler }, 'test.json', { flags: { maxSteps: 20 } }).warnings;
    const decay = { type: 'WarmupDecayLR', params: { warmup_max_lr: 1e-4, warmup_num_steps: 2, total_num_steps: 20 } };
    expect(warn(decay)).toEqual(['test.json: "optimizer.params.lr" 0.00002 has no effect: scheduler WarmupDecayLR sets the lr from "scheduler.params.warmup_min_lr" 0 up to "scheduler.params.warmup_max_lr" 0.0001 ("auto" follows the optimizer\'s lr), as DeepSpeed\'s does']);
    // DeepSpeed's own examples give the same number to both: nothing is lost, nothing said
    expect(warn({ ...decay, params: { ...decay.params, warmup_max_lr: 2e-5 } })).toEqual([]);
    expect(warn({ type: 'WarmupLR', params: { warmup_max_lr: 1e-4 } })[0]).toMatch(/scheduler WarmupLR sets the lr from/);
    // "auto" follows the optimizer's lr; an lr the config does not give is not named
    expect(warn({ type: 'WarmupDecayLR', params: { warmup_max_lr: 'auto', warmup_num_steps: 2, total_num_steps: 20 } })).toEqual([]);
    expect(warn(decay, null)).toEqual([]);
    expect(warn(decay, { type: 'AdamW', params: { lr: 'auto' } })).toEqual([]);
    expect(warn({ type: 'OneCycle', params: { cycle_min_lr: 1e-5, cycle_max_lr: 1e-3, cycle_momentum: false } })[0]).toMatch(/"optimizer\.params\.lr" 0\.00002 has no effect: scheduler OneCycle sets the lr from "scheduler\.params\.cycle_min_lr" 0\.00001 to "scheduler\.params\.cycle_max_lr" 0\.001/);
    expect(warn({ type: 'LRRangeTest', params: {} })[0]).toMatch(/scheduler LRRangeTest sets the lr from "scheduler\.params\.lr_range_test_min_lr" 0\.001 upwards/);
    // schedules that scale the optimizer's lr say nothing
    expect(warn({ type: 'WarmupCosineLR', params: { total_num_steps: 20, warmup_num_steps: 2 } })).toEqual([]);
  });

  it('HF-style schedules: warmup from ratio or steps, total from the run', () => {
    const sched = (params: object): ResolvedConfig['scheduler'] => resolve({ ...ok, scheduler: { type: 'cosine', params } }, { flags: { maxSteps: 95 } }).scheduler;
    expect(sched({ warmup_ratio: 0.1 })).toEqual({ type: 'cosine', params: { warmup_ratio: 0.1, warmup_num_steps: 10, total_num_steps: 95, num_cycles: 0.5 } }); // ceil(9.5)
    expect(sched({ warmup_proportion: 0.1 }).params).toMatchObject({ warmup_num_steps: 10 }); // TeleChat's spelling
    expect(sched({ warmup_ratio: 0.1, warmup_num_steps: 3 }).params).toMatchObject({ warmup_num_steps: 3 }); // steps win
    // ... and the ratio they make inert is named
    const both = resolveConfigObject({ ...ok, scheduler: { type: 'cosine', params: { warmup_ratio: 0.1, warmup_steps: 3 } } }, 'test.json', { flags: { maxSteps: 95 } });
    expect(both.warnings).toContain('test.json: "scheduler.params.warmup_ratio" 0.1 has no effect: "scheduler.params.warmup_num_steps" 3 is given and wins over it, as in Hugging Face');
    expect(sched({ warmup_steps: 4, total_num_steps: 50 }).params).toMatchObject({ warmup_num_steps: 4, total_num_steps: 50 });
    expect(sched({}).params).toMatchObject({ warmup_ratio: 0, warmup_num_steps: 0 });
    const lin = resolve({ ...ok, scheduler: { type: 'linear', params: { warmup_ratio: 0.25 } } }, { flags: { maxSteps: 8 } }).scheduler;
    expect(lin).toEqual({ type: 'linear', params: { warmup_ratio: 0.25, warmup_num_steps: 2, total_num_steps: 8 } });
    const cst = resolve({ ...ok, scheduler: { type: 'constant', params: { warmup_num_steps: 5 } } }).scheduler;
    expect(cst).toEqual({ type: 'constant', params: { warmup_ratio: 0, warmup_num_steps: 5 } });
  });

  it('DeepSpeed WarmupCosineLR keeps its own parameters', () => {
    const c = resolve({ ...ok, optimizer: { type: 'AdamW', params: { lr: 3e-4 } }, scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: 'auto', warmup_num_steps: 10 } } }, { flags: { maxSteps: 100 } });
    expect(c.scheduler).toEqual({
      type: 'WarmupCosineLR',
      params: { total_num_steps: 100, warmup_min_ratio: 0, warmup_num_steps: 10, cos_min_ratio: 1e-4, warmup_type: 'log', last_batch_iteration: -1 },
    });
  });
});

describe("DeepSpeed's batch inference (world size 2)", () => {
  const triple = (cfg: object): number[] => {
    const c = resolve(cfg, { context: { worldSize: 2 } });
    return [c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps];
  };
  it('each branch', () => {
    expect(triple({ train_batch_size: 16, train_micro_batch_size_per_gpu: 4, gradient_accumulation_steps: 2 })).toEqual([16, 4, 2]); // all given
    expect(triple({ train_batch_size: 16, train_micro_batch_size_per_gpu: 4 })).toEqual([16, 4, 2]); // GAS = 16 // 4 // 2
    expect(triple({ train_batch_size: 16, gradient_accumulation_steps: 2 })).toEqual([16, 4, 2]); // micro = 16 // 2 // 2
    expect(triple({ train_micro_batch_size_per_gpu: 4, gradient_accumulation_steps: 2 })).toEqual([16, 4, 2]); // batch = 4 * 2 * 2
    expect(triple({ train_batch_size: 16 })).toEqual([16, 8, 1]); // GAS 1, micro = 16 // 2
    expect(triple({ train_micro_batch_size_per_gpu: 4 })).toEqual([8, 4, 1]); // GAS 1, batch = 4 * 2
  });
});

describe('overrides', () => {
  it('--set parses JSON and falls back to a string', () => {
    expect(parseSetArg('zero_optimization.stage=2')).toEqual({ key: 'zero_optimization.stage', path: ['zero_optimization', 'stage'], value: 2 });
    expect(parseSetArg('training.output_dir=runs/a=b').value).toBe('runs/a=b');
    expect(parseSetArg('fp16.enabled=true').value).toBe(true);
    expect(parseSetArg('training.save_total_limit=null').value).toBeNull();
    expect(parseSetArg('optimizer.params.betas=[0.9,0.95]').value).toEqual([0.9, 0.95]);
    expect(parseSetArg('model.path="123"').value).toBe('123');
  });

  it('--set is applied before validation, later ones win, flags win over both', () => {
    const file = { ...ok, training: { max_steps: 10, seed: 1 }, zero_optimization: { stage: 1 } };
    const c = resolve(file, {
      sets: ['zero_optimization.stage=2', 'zero_optimization.offload_optimizer.device=cpu', 'training.max_steps=20', 'training.seed=5', 'training.seed=6'],
      flags: { maxSteps: 30, outputDir: 'runs/x', model: 'models/tiny', data: 'data/tiny', init: 'random', maxSeqLen: 64 },
    });
    expect(c.zero_optimization.stage).toBe(2);
    expect(c.zero_optimization.offload_optimizer.device).toBe('cpu');
    expect(c.training).toMatchObject({ max_steps: 30, seed: 6, output_dir: 'runs/x', max_seq_len: 64 });
    expect(c.model).toMatchObject({ path: 'models/tiny', init: 'random', config: null });
    expect(resolve(ok, { flags: { modelConfig: 'cfg.json', init: 'random' } }).model).toMatchObject({ path: null, init: 'random', config: 'cfg.json' });
    expect(c.data.path).toBe('data/tiny');
    expect(file.training.max_steps).toBe(10); // the parsed file is not modified
    const whole = resolve(ok, { sets: ['optimizer={"type":"adamw","params":{"lr":0.1}}'] });
    expect(whole.optimizer).toMatchObject({ type: 'AdamW', params: { lr: 0.1 } });
  });

  it('a --set wins over the file whichever spelling of the setting each uses (PEFT\'s lora_alpha, bfloat16, HF\'s warmup_steps)', () => {
    const lora = resolve({ ...ok, lora: { r: 8, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['all-linear'] } }, { sets: ['lora.alpha=16'] }).lora!;
    expect([lora.alpha, lora.dropout]).toEqual([16, 0.1]);
    expect(resolve({ ...ok, lora: { r: 8, alpha: 8, target_modules: ['all-linear'] } }, { sets: ['lora.lora_alpha=32'] }).lora!.alpha).toBe(32);
    expect(resolve({ ...ok, bf16: { enabled: false } }, { sets: ['bfloat16={"enabled":true}'] }).run.precision).toBe('bf16');
    // ... also a --set into a block the file spells otherwise, which keeps the block's other keys
    expect(resolve({ ...ok, bfloat16: { enabled: false } }, { sets: ['bf16.enabled=true'] }).run.precision).toBe('bf16');
    // messages about the setting blame the --set, whichever spelling it used
    const blamed = resolveConfigObject({ ...ok, scheduler: { type: 'cosine', params: { warmup_steps: 3 } } }, 'test.json',
      { flags: { maxSteps: 95 }, sets: ['scheduler.params.warmup_proportion=0.2'] }).warnings;
    expect(blamed).toContain('--set scheduler.params.warmup_proportion: "scheduler.params.warmup_ratio" 0.2 has no effect: "scheduler.params.warmup_num_steps" 3 is given and wins over it, as in Hugging Face');
    const sched = resolve({ ...ok, training: { max_steps: 100 }, scheduler: { type: 'linear', params: { warmup_steps: 5 } } }, { sets: ['scheduler.params.warmup_num_steps=7'] });
    expect(sched.scheduler.params).toMatchObject({ warmup_num_steps: 7 });
    // in the file itself both spellings are still one setting given twice
    expect(() => resolve({ ...ok, lora: { r: 8, alpha: 8, lora_alpha: 8, target_modules: ['all-linear'] } })).toThrow(/"lora.alpha" and "lora.lora_alpha" are the same setting; give only one/);
  });
});

describe('legacy and alias forms', () => {
  it('"zero_optimization": true is stage 1, false is stage 0', () => {
    expect(resolve({ ...ok, zero_optimization: true }).zero_optimization.stage).toBe(1);
    expect(resolve({ ...ok, zero_optimization: false }).zero_optimization.stage).toBe(0);
    expect(warningsOf({ ...ok, zero_optimization: true })).toEqual(['test.json: "zero_optimization": true is a legacy form; read as {"stage": 1}']);
    // Overrides apply on top of the upgraded form.
    expect(resolve({ ...ok, zero_optimization: true }, { sets: ['zero_optimization.stage=2'] }).zero_optimization.stage).toBe(2);
    expect(resolve(ok, { sets: ['zero_optimization.cpu_offload=true', 'zero_optimization.stage=1'] }).zero_optimization.offload_optimizer.device).toBe('cpu');
  });

  it('cpu_offload / cpu_offload_param / cpu_offload_use_pin_memory become offload blocks', () => {
    const cfg = { ...ok, zero_optimization: { stage: 3, cpu_offload: true, cpu_offload_param: true, cpu_offload_use_pin_memory: true } };
    const z = resolve(cfg).zero_optimization;
    expect(z.offload_optimizer).toMatchObject({ device: 'cpu', pin_memory: true });
    expect(z.offload_param).toMatchObject({ device: 'cpu', pin_memory: true });
    expect(warningsOf(cfg)).toEqual([
      'test.json: "zero_optimization.cpu_offload" is deprecated; read as "zero_optimization.offload_optimizer": {"device": "cpu"}',
      'test.json: "zero_optimization.cpu_offload_param" is deprecated; read as "zero_optimization.offload_param": {"device": "cpu"}',
      `test.json: "zero_optimization.cpu_offload_use_pin_memory" is deprecated; use the offload blocks' "pin_memory"`,
      // pinned host memory is a DeepSpeed speed-up we do not have: said, not silently dropped
      'test.json: "zero_optimization.offload_param.pin_memory": true has no effect in telechat-train (host copies of offloaded tensors use ordinary pageable memory)',
      'test.json: "zero_optimization.offload_optimizer.pin_memory": true has no effect in telechat-train (host copies of offloaded tensors use ordinary pageable memory)',
    ]);
    expect(resolve({ ...ok, zero_optimization: { stage: 2, cpu_offload: false } }).zero_optimization.offload_optimizer.device).toBe('none');
  });

  it('stage3_gather_fp16_weights_on_model_save and the unprefixed stage-3 names', () => {
    const cfg = { ...ok, zero_optimization: { stage: 3, stage3_gather_fp16_weights_on_model_save: true, prefetch_bucket_size: 7, param_persistence_threshold: 8, max_live_parameters: 9, max_reuse_distance: 10 } };
    const z = resolve(cfg).zero_optimization;
    expect(z.stage3_gather_16bit_weights_on_model_save).toBe(true);
    expect([z.stage3_prefetch_bucket_size, z.stage3_param_persistence_threshold, z.stage3_max_live_parameters, z.stage3_max_reuse_distance]).toEqual([7, 8, 9, 10]);
    expect(warningsOf(cfg)).toEqual([
      'test.json: "zero_optimization.stage3_gather_fp16_weights_on_model_save" is deprecated; use "zero_optimization.stage3_gather_16bit_weights_on_model_save"',
      'test.json: "zero_optimization.stage3_max_live_parameters": 9 has no effect in telechat-train (stage 3 holds at most the running block and the prefetched one gathered)',
      'test.json: "zero_optimization.stage3_max_reuse_distance": 10 has no effect in telechat-train (a gathered block is released right after its forward or backward)',
    ]);
  });

  it('bfloat16 block, case-insensitive optimizer type and tag_validation', () => {
    const c = resolve({ ...ok, bfloat16: { enabled: true }, optimizer: { type: 'adamw', params: {} }, checkpoint: { tag_validation: 'FAIL' } });
    expect(c.bf16.enabled).toBe(true);
    expect(c.optimizer.type).toBe('AdamW');
    expect(c.checkpoint.tag_validation).toBe('Fail');
  });

  it('AdamW ignores adam_w_mode false (always decoupled), with a warning', () => {
    const cfg = { ...ok, optimizer: { type: 'AdamW', params: { adam_w_mode: false } } };
    expect(resolve(cfg).optimizer.params.adam_w_mode).toBe(true);
    expect(warningsOf(cfg)).toEqual(['test.json: "optimizer.params.adam_w_mode": false is ignored for type AdamW (always decoupled weight decay)']);
  });

  it('DeepSpeed profiling blocks are kept verbatim and flagged as having no effect', () => {
    const cfg = { ...ok, flops_profiler: { enabled: true, profile_step: 2 }, zero_optimization: { stage: 2, offload_param: { device: 'cpu' } } };
    expect(resolve(cfg).ignored).toEqual({ flops_profiler: { enabled: true, profile_step: 2 } });
    expect(warningsOf(cfg)).toEqual([
      'test.json: "flops_profiler" is accepted but has no effect in telechat-train (metrics.jsonl reports MFU instead)',
      'test.json: "zero_optimization.offload_param.device": "cpu" has no effect in telechat-train (parameter offload is part of ZeRO stage 3; the stage is 2)',
    ]);
    // resolved-config.json records what the run does: no parameter offload below stage 3
    expect(resolve(cfg).zero_optimization.offload_param.device).toBe('none');
  });
});

const FIXTURES = join(import.meta.dirname, 'fixtures', 'telechat2');

describe("TeleChat2's DeepSpeed configs load unchanged", () => {
  // TeleChat2-7B: hidden 4096; 8 ranks, their scripts' bf16 with per-device batch 1 and accumulation 4.
  const context = { hiddenSize: 4096, worldSize: 8, hf: { bf16: true, perDeviceTrainBatchSize: 1, gradientAccumulationSteps: 4 } };
  for (const stage of [1, 2, 3]) {
    it(`ds_z${stage}_config.json`, () => {
      const { config: c, warnings } = loadConfig(join(FIXTURES, `ds_z${stage}_config.json`), { context });
      // Their only key without effect here is pin_memory (true) on the offload blocks.
      const pinned = { 1: [], 2: ['offload_optimizer'], 3: ['offload_param', 'offload_optimizer'] }[stage]!;
      expect(warnings).toEqual(pinned.map((b) => expect.stringContaining(`"zero_optimization.${b}.pin_memory": true has no effect in telechat-train`)));
      expect(warnings).toHaveLength(pinned.length);
      expect(c.zero_optimization.stage).toBe(stage);
      expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([32, 1, 4]);
      expect(c.gradient_clipping).toBe(1.0);
      expect([c.bf16.enabled, c.fp16.enabled, c.run.precision]).toEqual([true, false, 'bf16']);
      expect(c.steps_per_print).toBe(20);
      expect(c.zero_allow_untested_optimizer).toBe(true);
      expect(c.zero_optimization.reduce_bucket_size).toBe(4096 * 4096);
      expect(c.zero_optimization.offload_optimizer.device).toBe(stage >= 2 ? 'cpu' : 'none');
      if (stage === 3) {
        expect(c.zero_optimization.offload_param).toMatchObject({ device: 'cpu', pin_memory: true });
        expect(c.zero_optimization.stage3_prefetch_bucket_size).toBe(15099494); // floor(0.9 * 4096^2)
        expect(c.zero_optimization.stage3_param_persistence_threshold).toBe(40960);
        expect(c.zero_optimization.stage3_gather_16bit_weights_on_model_save).toBe(true);
      }
      expect(strings(c).filter(([, v]) => v === 'auto')).toEqual([]);
      // Without training arguments the TrainingArguments defaults apply.
      const d = loadConfig(join(FIXTURES, `ds_z${stage}_config.json`), { context: { hiddenSize: 4096 } }).config;
      expect([d.train_batch_size, d.train_micro_batch_size_per_gpu, d.gradient_accumulation_steps, d.run.precision]).toEqual([8, 8, 1, 'fp32']);
    });
  }
});

const CONFIGS = join(import.meta.dirname, '..', '..', 'configs');

describe('shipped configs', () => {
  for (const name of ['zero1', 'zero2', 'zero3', 'zero3-offload']) {
    it(`configs/${name}.json resolves for the tiny model`, () => {
      const { config: c, warnings } = loadConfig(join(CONFIGS, `${name}.json`), { context: { hiddenSize: 64 } });
      expect(warnings).toEqual([]);
      expect(c.zero_optimization.stage).toBe(Number(name[4]));
      expect(c.zero_optimization.offload_optimizer.device).toBe(name === 'zero3-offload' ? 'cpu' : 'none');
      expect(c.zero_optimization.offload_param.device).toBe(name === 'zero3-offload' ? 'cpu' : 'none');
      expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([4, 2, 2]);
      expect(c.run).toEqual({ world_size: 1, precision: 'fp32', steps_per_epoch: null, total_steps: 40, schedule_from_run_length: ['total_num_steps', 'warmup_num_steps'] });
      expect(c.scheduler).toEqual({ type: 'cosine', params: { warmup_ratio: 0.1, warmup_num_steps: 4, total_num_steps: 40, num_cycles: 0.5 } });
      expect(c.optimizer.params).toMatchObject({ lr: 1e-3, weight_decay: 0.01 });
      expect(c.zero_optimization.reduce_bucket_size).toBe(4096);
      // The same file on two ranks doubles the global batch.
      expect(loadConfig(join(CONFIGS, `${name}.json`), { context: { hiddenSize: 64, worldSize: 2 } }).config.train_batch_size).toBe(8);
    });
  }
});

describe('the resolved config', () => {
  it('has every schema key, no "auto", and survives a JSON round trip', () => {
    const c = resolve(JSON.parse(readFileSync(join(FIXTURES, 'ds_z3_config.json'), 'utf8')), { context: { hiddenSize: 64 } });
    for (const path of schemaPaths(CONFIG)) {
      if (path === 'bfloat16') continue;
      // the optional lora section resolves to null when absent (its keys: 'the lora section' below)
      if (path.startsWith('lora.')) continue;
      expect(get(c, path), path).not.toBeUndefined();
    }
    expect(strings(c).filter(([, v]) => v === 'auto')).toEqual([]);
    expect(JSON.parse(resolvedConfigJson(c))).toEqual(c);
  });
});

describe('the lora section', () => {
  const ok = { train_micro_batch_size_per_gpu: 1 };
  it('absent: null (full fine-tuning); present: PEFT spellings accepted, alpha defaults to 8', () => {
    expect(resolve(ok).lora).toBeNull();
    expect(resolve({ ...ok, lora: { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['query'] } }).lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, target_modules: ['query'], init_adapter: null });
    expect(resolve({ ...ok, lora: { r: 4, target_modules: ['all-linear'] } }).lora!.alpha).toBe(8);
    // "all-linear" alone, as PEFT's LoraConfig(target_modules="all-linear") takes it; any other single
    // string is a regular expression to PEFT, and refused here
    expect(resolve({ ...ok, lora: { r: 4, target_modules: 'all-linear' } }).lora!.target_modules).toEqual(['all-linear']);
    for (const bad of ['query', '.*\\.(query|dense)']) {
      expect(() => resolve({ ...ok, lora: { r: 4, target_modules: bad } })).toThrow(
        `key "lora.target_modules" ${JSON.stringify(bad)}: one string other than "all-linear" is a regular expression over module paths in PEFT, which telechat-train does not take: give a list of module names, e.g. ["query", "key_value"], or "all-linear"`);
    }
    expect(() => resolve({ ...ok, lora: { r: 4, target_modules: 3 } })).toThrow(
      'key "lora.target_modules" expects an array of any number of strings, or "all-linear" alone, got 3');
  });
  it('refuses r <= 0, a missing r or target_modules, and PEFT options we lack, by name', () => {
    // the rank's type error does not offer null, which only means "not given" (then required)
    expect(() => resolve({ ...ok, lora: { r: 0, target_modules: ['query'] } })).toThrow(/key "lora\.r" expects an integer > 0, got 0$/);
    expect(() => resolve({ ...ok, lora: { target_modules: ['query'] } })).toThrow(/"lora\.r" \(the adapter rank\) is required/);
    expect(() => resolve({ ...ok, lora: { r: 4 } })).toThrow(/"lora\.target_modules" is required/);
    for (const [k, v] of [['use_dora', true], ['use_rslora', true], ['modules_to_save', ['lm_head']], ['bias', 'all'], ['layers_to_transform', [0]]] as const) {
      expect(() => resolve({ ...ok, lora: { r: 4, target_modules: ['query'], [k]: v } }), k).toThrow(new RegExp(`lora\\.${k}`));
    }
    expect(() => resolve({ ...ok, lora: { r: 4, target_modules: ['query'], rank: 3 } })).toThrow(/lora\.rank/);
  });
});

describe('nothing silently ignored', () => {
  /** Every leaf of the DeepSpeed part of the schema with its spec (our model/data/training sections excluded). */
  function leaves(spec: ObjectSpec, path = ''): [string, Spec][] {
    return Object.entries(spec.fields).flatMap(([k, f]): [string, Spec][] => {
      const p = path ? `${path}.${k}` : k;
      if (f.kind === 'object') return leaves(f, p);
      if (f.kind === 'tagged') return Object.values(f.types).flatMap((body) => leaves(body, `${p}.params`));
      return [[p, f]];
    });
  }
  // Keys the trainer reads (src/train, src/zero, src/model): everything else in the DeepSpeed
  // part of the schema must say why it has no effect (inert) or be refused (unsupported).
  const HAS_EFFECT = new Set([
    'train_batch_size', 'train_micro_batch_size_per_gpu', 'gradient_accumulation_steps', 'gradient_clipping', 'steps_per_print',
    'communication_data_type', // warned in resolve.ts unless it is the reduction dtype
    'fp16.enabled', 'fp16.loss_scale', 'fp16.initial_scale_power', 'fp16.loss_scale_window', 'fp16.hysteresis', 'fp16.consecutive_hysteresis', 'fp16.min_loss_scale',
    'bf16.enabled',
    'optimizer.params.lr', 'optimizer.params.betas', 'optimizer.params.eps', 'optimizer.params.weight_decay', 'optimizer.params.adam_w_mode',
    'zero_optimization.stage', 'zero_optimization.overlap_comm', 'zero_optimization.offload_param.device', 'zero_optimization.offload_optimizer.device',
    'zero_optimization.stage3_prefetch_bucket_size', 'zero_optimization.stage3_param_persistence_threshold',
    'data_types.grad_accum_dtype',
    'tensorboard.enabled', 'tensorboard.output_path', 'tensorboard.job_name', // src/observe/tensorboard.ts
    'csv_monitor.enabled', 'csv_monitor.output_path', 'csv_monitor.job_name', // src/observe/csv_monitor.ts
  ]);
  const isSchedulerParam = (p: string): boolean => p.startsWith('scheduler.params.');

  it('every DeepSpeed key has its effect, or is inert with a reason, or is refused with a reason', () => {
    const unexplained = leaves(CONFIG)
      .filter(([p]) => !/^(model|data|training|lora)\./.test(p))
      .filter(([p, s]) => {
        if (s.kind === 'passthrough') return s.why === '';
        if (HAS_EFFECT.has(p) || isSchedulerParam(p)) return false;
        return !(s.kind !== 'array' && (s.inert || s.unsupported));
      })
      .map(([p]) => p);
    expect(unexplained).toEqual([]);
  });

  it('docs/config.md lists every DeepSpeed key: inert, refused and block keys by full path', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'config.md'), 'utf8');
    const missing = leaves(CONFIG)
      .filter(([p]) => !/^(model|data|training|lora)\./.test(p))
      .filter(([p, s]) => {
        const explained = s.kind === 'passthrough' || (s.kind !== 'array' && (s.inert || s.unsupported));
        return !doc.includes(explained ? `\`${p}\`` : `\`${p.split('.').pop()}\``) && !doc.includes(`\`${p}\``);
      })
      .map(([p]) => p);
    expect(missing).toEqual([]);
  });

  it('the formerly silent keys warn, naming the key and why', () => {
    const cfg = {
      ...ok,
      prescale_gradients: true,
      gradient_predivide_factor: 2,
      communication_data_type: 'bf16',
      zero_optimization: { stage: 3, stage3_max_live_parameters: 1e8, offload_optimizer: { device: 'cpu' } },
      activation_checkpointing: { cpu_checkpointing: true },
    };
    const w = warningsOf(cfg);
    for (const key of ['prescale_gradients', 'gradient_predivide_factor', 'communication_data_type', 'zero_optimization.stage3_max_live_parameters',
      'activation_checkpointing.cpu_checkpointing']) {
      expect(w.filter((line) => line.startsWith(`test.json: "${key}": `) && /has no effect in telechat-train \(.+\)$/.test(line)), key).toHaveLength(1);
    }
    expect(w).toHaveLength(5);
    expect(w).toContain('test.json: "communication_data_type": "bf16" has no effect in telechat-train (gradients are reduced in the accumulation dtype, data_types.grad_accum_dtype = "fp32")');
    // at their defaults (or, for communication_data_type, the dtype reductions use) they are quiet
    const quiet = { ...ok, prescale_gradients: false, gradient_predivide_factor: 1, communication_data_type: 'fp32', zero_optimization: { stage: 3, stage3_max_live_parameters: 1e9, offload_optimizer: { device: 'cpu', ratio: 1 } }, activation_checkpointing: { cpu_checkpointing: false } };
    expect(warningsOf(quiet)).toEqual([]);
  });

  it('a DeepSpeed block that is a no-op at its values loads with a warning', () => {
    const cfg = { ...ok, tensor_parallel: { autotp_size: 1 }, torch_autocast: { enabled: false }, data_efficiency: { enabled: false, data_sampling: { enabled: false } }, sequence_parallel_size: 1, compile: { deepcompile: false } };
    const { config, warnings } = resolveConfigObject(cfg, 'test.json', {});
    expect(Object.keys(config.ignored).sort()).toEqual(['compile', 'data_efficiency', 'tensor_parallel', 'torch_autocast']);
    expect(warnings).toEqual([
      'test.json: "torch_autocast" is accepted but has no effect in telechat-train (precision comes from the bf16 / fp16 blocks)',
      'test.json: "tensor_parallel" is accepted but has no effect in telechat-train (tensor parallel size 1 is plain data parallelism)',
      'test.json: "data_efficiency" is accepted but has no effect in telechat-train (no data-efficiency method is enabled)',
      'test.json: "compile" is accepted but has no effect in telechat-train (nothing is compiled with torch.compile)',
    ]);
  });

  it('top-level "_" keys are comments: accepted silently, not settings', () => {
    const { config, warnings } = resolveConfigObject({ ...ok, _comment: 'see the docs', _note: { a: 1 } }, 'test.json', {});
    expect(warnings).toEqual([]);
    expect(JSON.stringify(config)).not.toContain('see the docs');
  });

  it("LLaMA-Factory's ds_z2_autotp_config.json shape loads (autotp_size 1); its size 2 is refused by name", () => {
    const path = join(import.meta.dirname, 'fixtures', 'llamafactory', 'ds_z2_autotp_config.json');
    const { config: c, warnings } = loadConfig(path, { context: { hiddenSize: 64, hf: { bf16: true } } });
    expect(c.zero_optimization).toMatchObject({ stage: 2, round_robin_gradients: true, reduce_bucket_size: 2e8 });
    expect([c.train_batch_size, c.run.precision, c.fp16.loss_scale_window]).toEqual([8, 'bf16', 500]);
    expect(c.ignored).toEqual({ tensor_parallel: { autotp_size: 1 } });
    expect(warnings).toEqual([
      `${path}: "zero_optimization.reduce_bucket_size": 200000000 has no effect in telechat-train (ZeRO gathers and reduces one model block at a time, so element-count buckets do not apply)`,
      `${path}: "zero_optimization.allgather_bucket_size": 200000000 has no effect in telechat-train (ZeRO gathers and reduces one model block at a time, so element-count buckets do not apply)`,
      `${path}: "zero_optimization.round_robin_gradients": true has no effect in telechat-train (a copy-ordering optimization of DeepSpeed's CPU offload; gradients are partitioned the same way)`,
      `${path}: "tensor_parallel" is accepted but has no effect in telechat-train (tensor parallel size 1 is plain data parallelism)`,
    ]);
    expect(() => loadConfig(path, { sets: ['tensor_parallel.autotp_size=2'] })).toThrow(
      '--set tensor_parallel.autotp_size: "tensor_parallel.autotp_size": 2 is not supported: telechat-train has no tensor parallelism',
    );
  });
});

describe('model.init', () => {
  const base = { train_micro_batch_size_per_gpu: 1 };
  it('is pretrained with a model dir, random for the built-in tiny model; pretrained without a model, or a bare --model-config without random, is refused', () => {
    expect(resolveConfigObject({ ...base, model: { path: '/m' } }, 'c.json').config.model.init).toBe('pretrained');
    expect(resolveConfigObject({ ...base, model: { path: '/m', init: 'random' } }, 'c.json').config.model.init).toBe('random');
    expect(resolveConfigObject(base, 'c.json').config.model.init).toBe('random');
    expect(() => resolveConfigObject({ ...base, model: { init: 'pretrained' } }, 'c.json')).toThrow('"model.init" is "pretrained" but no model is given');
    expect(() => resolveConfigObject({ ...base, model: { config: '/m/config.json' } }, 'c.json')).toThrow('/m/config.json gives no weights: pass --init random');
    expect(resolveConfigObject({ ...base, model: { config: '/m/config.json', init: 'random' } }, 'c.json').config.model.init).toBe('random');
    // a config.json beside a model dir would be ignored: refused
    expect(() => resolveConfigObject({ ...base, model: { path: '/m', config: '/n/config.json', init: 'random' } }, 'c.json')).toThrow('"model.config" /n/config.json with "model.path" /m: the model dir\'s config.json is the architecture; give one of the two (--model-config or --model)');
  });
});
