// Real DeepSpeed configs and keys from the black-box audit: LLaMA-Factory's five configs load
// unchanged, DeepSpeed's spellings are accepted, DeepSpeed features we lack are refused by name,
// stage-3 keys below stage 3 warn unless quiet values, errors name the flag or --set at fault,
// the resolved config says what the run does, and PEFT's LoraConfig.to_dict() pastes in.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PEFT_OPTION_DEFAULTS } from '../../src/config/peft_options.js';
import { loadConfig, resolveConfigObject, resolvedConfigJson, type LoadOptions } from '../../src/config/index.js';
import { configErrorOf } from '../helpers/config_error.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('config-ds-keys');
afterAll(() => tmp.cleanup());

const ok = { train_micro_batch_size_per_gpu: 1 };
const warningsOf = (cfg: object, opts: LoadOptions = {}): string[] => resolveConfigObject(cfg, 'test.json', opts).warnings;

const errorOf = configErrorOf;
const refusal = (cfg: object, opts: LoadOptions = {}): string => errorOf(() => resolveConfigObject(cfg, 'test.json', opts));

/** Writes `text` as a config file and returns its path. */
function file(name: string, text: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, text);
  return path;
}

// LLaMA-Factory's examples/deepspeed/ds_z{0,2,3}[_offload]_config.json, verbatim.
const LF_HEAD = `{
  "train_batch_size": "auto",
  "train_micro_batch_size_per_gpu": "auto",
  "gradient_accumulation_steps": "auto",
  "gradient_clipping": "auto",
  "zero_allow_untested_optimizer": true,
  "fp16": {
    "enabled": "auto",
    "loss_scale": 0,
    "loss_scale_window": 1000,
    "initial_scale_power": 16,
    "hysteresis": 2,
    "min_loss_scale": 1
  },
  "bf16": {
    "enabled": "auto"
  },
  "zero_optimization": {`;
const LF_TAIL = `
  },
  "comms_config": {
    "verbose": false
  },
  "monitor_config": {
    "enabled": true,
    "tag": "DeepSpeedMonitor",
    "csv_monitor": {
      "enabled": false
    }
  }
}
`;
const LF_Z012 = (stage: number, offload: boolean): string => `
    "stage": ${stage},${offload ? `
    "offload_optimizer": {
      "device": "cpu",
      "pin_memory": true
    },` : ''}
    "allgather_partitions": true,
    "allgather_bucket_size": 5e8,
    "overlap_comm": false,
    "reduce_scatter": true,
    "reduce_bucket_size": 5e8,
    "contiguous_gradients": true,
    "round_robin_gradients": true`;
const LF_Z3 = (offload: boolean): string => `
    "stage": 3,${offload ? `
    "offload_optimizer": {
      "device": "cpu",
      "pin_memory": true
    },
    "offload_param": {
      "device": "cpu",
      "pin_memory": true
    },` : ''}
    "overlap_comm": false,
    "contiguous_gradients": true,
    "sub_group_size": 1e9,
    "reduce_bucket_size": "auto",
    "stage3_prefetch_bucket_size": "auto",
    "stage3_param_persistence_threshold": "auto",
    "stage3_max_live_parameters": 1e9,
    "stage3_max_reuse_distance": 1e9,
    "stage3_gather_16bit_weights_on_model_save": true`;
const LLAMA_FACTORY: Record<string, string> = {
  'ds_z0_config.json': LF_HEAD + LF_Z012(0, false) + LF_TAIL,
  'ds_z2_config.json': LF_HEAD + LF_Z012(2, false) + LF_TAIL,
  'ds_z2_offload_config.json': LF_HEAD + LF_Z012(2, true) + LF_TAIL,
  'ds_z3_config.json': LF_HEAD + LF_Z3(false) + LF_TAIL,
  'ds_z3_offload_config.json': LF_HEAD + LF_Z3(true) + LF_TAIL,
};

describe("LLaMA-Factory's DeepSpeed configs load unchanged", () => {
  // A 7B-shaped run: hidden 4096, 8 ranks, bf16 from the training arguments.
  const context = { hiddenSize: 4096, worldSize: 8, hf: { bf16: true, perDeviceTrainBatchSize: 2, gradientAccumulationSteps: 4 } };
  for (const [name, text] of Object.entries(LLAMA_FACTORY)) {
    it(name, () => {
      const path = file(name, text);
      // the loader telechat-train --dry-run uses (src/train/setup.ts)
      const { config: c, warnings } = loadConfig(path, { context });
      const stage = Number(name[4]);
      const offload = name.includes('offload');
      expect(c.zero_optimization.stage).toBe(stage);
      expect([c.train_batch_size, c.train_micro_batch_size_per_gpu, c.gradient_accumulation_steps]).toEqual([64, 2, 4]);
      expect([c.run.precision, c.gradient_clipping, c.zero_allow_untested_optimizer]).toEqual(['bf16', 1.0, true]);
      expect(c.zero_optimization.offload_optimizer.device).toBe(offload ? 'cpu' : 'none');
      expect(c.zero_optimization.offload_param.device).toBe(offload && stage === 3 ? 'cpu' : 'none');
      expect(c.zero_optimization.overlap_comm).toBe(false);
      // DeepSpeed does not read comms_config or monitor_config: no monitor is turned on
      expect([c.tensorboard.enabled, c.csv_monitor.enabled]).toEqual([false, false]);
      expect(c.ignored).toEqual({ comms_config: { verbose: false }, monitor_config: { enabled: true, tag: 'DeepSpeedMonitor', csv_monitor: { enabled: false } } });
      if (stage === 3) {
        expect(c.zero_optimization.stage3_prefetch_bucket_size).toBe(15099494); // floor(0.9 * 4096^2)
        expect(c.zero_optimization.stage3_param_persistence_threshold).toBe(40960);
        expect(c.zero_optimization.stage3_gather_16bit_weights_on_model_save).toBe(true);
      }
      const expected = [
        ...(offload && stage === 3 ? ['"zero_optimization.offload_param.pin_memory": true has no effect in telechat-train'] : []),
        ...(offload ? ['"zero_optimization.offload_optimizer.pin_memory": true has no effect in telechat-train'] : []),
        ...(stage < 3 ? ['"zero_optimization.round_robin_gradients": true has no effect in telechat-train'] : []),
        '"comms_config" is accepted but has no effect in telechat-train (DeepSpeed does not read it either; communication logging is the "comms_logger" block)',
        '"monitor_config" is accepted but has no effect in telechat-train (DeepSpeed does not read it either; monitors are the top-level "tensorboard", "csv_monitor", "wandb" and "comet" blocks)',
      ];
      expect(warnings).toEqual(expected.map((w) => expect.stringContaining(`${path}: ${w}`)));
    });
  }

  it('a monitor enabled inside monitor_config is refused (DeepSpeed would leave it off), pointing to the top-level block', () => {
    expect(refusal({ ...ok, monitor_config: { enabled: true, csv_monitor: { enabled: true } } })).toBe(
      'test.json: "monitor_config.csv_monitor.enabled": true is not supported: DeepSpeed does not read "monitor_config", so this monitor would stay off: ' +
        'write it as a top-level block ("tensorboard": {"enabled": true}, ...)',
    );
    expect(warningsOf({ ...ok, comms_config: { verbose: true } })).toEqual([
      'test.json: "comms_config" is accepted but has no effect in telechat-train (DeepSpeed does not read it either; communication logging is the "comms_logger" block)',
    ]);
  });
});

describe("DeepSpeed's own spellings and keys", () => {
  it('seq_parallel_communication_data_type (not seq_parallel_comm_data_type)', () => {
    expect(warningsOf({ ...ok, seq_parallel_communication_data_type: 'bf16' })).toEqual([
      'test.json: "seq_parallel_communication_data_type": "bf16" has no effect in telechat-train (telechat-train has no sequence parallelism: each rank runs whole sequences)',
    ]);
    expect(resolveConfigObject({ ...ok, seq_parallel_communication_data_type: 'fp32' }, 'test.json').warnings).toEqual([]);
    expect(refusal({ ...ok, seq_parallel_comm_data_type: 'fp32' })).toMatch(/unknown key "seq_parallel_comm_data_type"/);
  });

  it('bf16.check_overflow / check_grad_overflow, optimizer.legacy_fusion, checkpoint.checkpoint_serialization / writer', () => {
    const quiet = {
      ...ok,
      bf16: { enabled: true, check_overflow: true, check_grad_overflow: true },
      optimizer: { type: 'AdamW', legacy_fusion: false, params: { lr: 1e-3 } },
      checkpoint: { checkpoint_serialization: true },
    };
    const { config: c, warnings } = resolveConfigObject(quiet, 'test.json');
    expect(warnings).toEqual([]);
    expect([c.bf16.check_overflow, c.bf16.check_grad_overflow, c.checkpoint.checkpoint_serialization]).toEqual([true, true, true]);
    expect(warningsOf({
      ...ok,
      bf16: { enabled: true, check_overflow: false, check_grad_overflow: false },
      optimizer: { type: 'AdamW', legacy_fusion: true, params: {} },
      checkpoint: { checkpoint_serialization: false, writer: { type: 'fast', decoupled: true } },
    })).toEqual([
      'test.json: "bf16.check_grad_overflow": false has no effect in telechat-train (a step whose gradients are not finite is always skipped, in every precision)',
      'test.json: "bf16.check_overflow": false has no effect in telechat-train (a step whose gradients are not finite is always skipped, in every precision)',
      'test.json: "optimizer.legacy_fusion": true has no effect in telechat-train (a DeepSpeed fp16 optimizer kernel choice; the Adam update is the same)',
      'test.json: "checkpoint.checkpoint_serialization": false has no effect in telechat-train (checkpoints are safetensors files, not torch.save pickles)',
      'test.json: "checkpoint.writer" is accepted but has no effect in telechat-train (each rank writes its safetensors shard with ordinary file I/O; DeepSpeed\'s FastPersist writer settings do not change what is saved)',
    ]);
  });

  it("DeepSpeed's optimizer and scheduler types we lack are refused by name, never with a did-you-mean", () => {
    for (const t of ['Lamb', 'lamb', 'OneBitAdam', 'ZeroOneAdam', 'OneBitLamb', 'Lion', 'Muon', 'Adagrad', 'MuAdamW', 'SGD', 'Adamax']) {
      const msg = refusal({ ...ok, optimizer: { type: t, params: { lr: 1e-3 } } });
      expect(msg, t).toMatch(new RegExp(`^test\\.json: "optimizer\\.type": "${t}" is not supported: .+ is not implemented; use "Adam" or "AdamW" \\(supported: Adam, AdamW\\)$`));
    }
    expect(refusal({ ...ok, optimizer: { type: 'Lamb', params: {} } })).toBe(
      'test.json: "optimizer.type": "Lamb" is not supported: LAMB is not implemented; use "Adam" or "AdamW" (supported: Adam, AdamW)',
    );
    const supported = 'WarmupLR, WarmupDecayLR, WarmupCosineLR, LRRangeTest, OneCycle, cosine, linear, constant, StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR, CyclicLR';
    expect(refusal({ ...ok, scheduler: { type: 'LambdaLR', params: {} } })).toBe(
      `test.json: "scheduler.type": "LambdaLR" is not supported: torch.optim.lr_scheduler.LambdaLR cannot come from a JSON config: lr_lambda is a Python function (supported: ${supported})`);
    // Hugging Face's lr_scheduler_type names: constant_with_warmup points at our constant; the
    // others are unsupported types, without a near-miss suggestion of another schedule
    expect(refusal({ ...ok, scheduler: { type: 'constant_with_warmup', params: {} } })).toBe(
      `test.json: "scheduler.type": "constant_with_warmup" is not supported: it is "constant" here: give "constant" with warmup_num_steps or warmup_ratio (supported: ${supported})`);
    for (const t of ['cosine_with_restarts', 'polynomial', 'inverse_sqrt', 'cosine_with_min_lr', 'cosine_warmup_with_min_lr', 'warmup_stable_decay']) {
      expect(refusal({ ...ok, scheduler: { type: t, params: {} } }), t).toBe(`test.json: unsupported scheduler type "${t}"; supported: ${supported}`);
    }
    // the closed-form ones run; torch's required arguments are required
    expect(resolveConfigObject({ ...ok, scheduler: { type: 'StepLR', params: { step_size: 3 } } }, 'test.json').config.scheduler).toEqual({ type: 'StepLR', params: { step_size: 3, gamma: 0.1 } });
    expect(refusal({ ...ok, scheduler: { type: 'StepLR', params: {} } })).toBe('test.json: scheduler torch.optim.lr_scheduler.StepLR needs "scheduler.params.step_size"');
    // torch's cyclic classes: required arguments, total_steps against the run, phases with steps,
    // scale_fn refused, what they make inert said (the optimizer's lr, beta1, scale_mode, gamma)
    const run = { ...ok, training: { max_steps: 40 } };
    expect(refusal({ ...run, scheduler: { type: 'CosineAnnealingWarmRestarts', params: {} } })).toBe(
      'test.json: scheduler torch.optim.lr_scheduler.CosineAnnealingWarmRestarts needs "scheduler.params.T_0"');
    expect(refusal({ ...run, scheduler: { type: 'OneCycleLR', params: { max_lr: 1e-3 } } })).toBe(
      'test.json: scheduler torch.optim.lr_scheduler.OneCycleLR needs "scheduler.params.total_steps", or "scheduler.params.epochs" and "scheduler.params.steps_per_epoch"');
    expect(refusal({ ...run, scheduler: { type: 'OneCycleLR', params: { max_lr: 1e-3, epochs: 3, steps_per_epoch: 10 } } })).toBe(
      'test.json: the run has 40 optimizer steps, more than OneCycleLR\'s total_steps 30 (torch raises when stepped past it)');
    expect(refusal({ ...run, scheduler: { type: 'OneCycleLR', params: { max_lr: 1e-3, total_steps: 40, pct_start: 0.02 } } })).toBe(
      'test.json: "scheduler.params.pct_start" 0.02 with total_steps 40 leaves a phase of OneCycleLR without steps (torch divides by its length)');
    expect(refusal({ ...run, scheduler: { type: 'CyclicLR', params: { base_lr: 1e-4 } } })).toBe('test.json: scheduler torch.optim.lr_scheduler.CyclicLR needs "scheduler.params.max_lr"');
    expect(refusal({ ...run, scheduler: { type: 'CyclicLR', params: { base_lr: 1e-4, max_lr: 1e-3, scale_fn: 'lambda x: 1' } } })).toMatch(
      /"scheduler\.params\.scale_fn".*scale_fn is a Python function/);
    const cyclic = resolveConfigObject({ ...run, scheduler: { type: 'CyclicLR', params: { base_lr: 1e-4, max_lr: 1e-3, scale_mode: 'iterations', gamma: 0.9 } } }, 'test.json');
    expect(cyclic.config.scheduler).toEqual({ type: 'CyclicLR', params: { base_lr: 1e-4, max_lr: 1e-3, step_size_up: 2000, step_size_down: 2000, mode: 'triangular', gamma: 0.9,
      cycle_momentum: true, base_momentum: 0.8, max_momentum: 0.9, beta2: 0.999 } });
    expect(cyclic.warnings.filter((w) => w.includes('scheduler') || w.includes('optimizer.params.lr'))).toEqual([
      'test.json: "optimizer.params.lr" 0.00005 has no effect: torch.optim.lr_scheduler.CyclicLR sets the lr itself (base_lr up to max_lr)',
      'test.json: "scheduler.params.cycle_momentum" is true: Adam\'s beta1 cycles between base_momentum 0.8 and max_momentum 0.9 in place of optimizer.params.betas[0] (beta2 stays 0.999), as torch sets it',
      'test.json: "scheduler.params.scale_mode" has no effect without a scale_fn: mode "triangular" sets it, as in torch',
      'test.json: "scheduler.params.gamma" is read by mode "exp_range" only (mode is "triangular")',
    ]);
    expect(resolveConfigObject({ ...run, scheduler: { type: 'OneCycleLR', params: { max_lr: 1e-3, epochs: 4, steps_per_epoch: 10, cycle_momentum: false } } }, 'test.json').config.scheduler.params)
      .toMatchObject({ total_steps: 40, cycle_momentum: false });
    expect(warningsOf({ ...ok, scheduler: { type: 'ExponentialLR', params: { gamma: 0.9, verbose: true } } })).toEqual([
      expect.stringContaining('"scheduler.params.verbose": true has no effect in telechat-train (torch would print each lr; metrics.jsonl records it)'),
    ]);
    // typos still get a suggestion
    expect(refusal({ ...ok, optimizer: { type: 'AdamWW', params: {} } })).toContain('(did you mean "AdamW"?)');
    expect(refusal({ ...ok, scheduler: { type: 'WarmupLRR', params: {} } })).toContain('(did you mean "WarmupLR"?)');
  });
});

describe("DeepSpeed's LRRangeTest and OneCycle", () => {
  it('take DeepSpeed\'s defaults; OneCycle needs both lr bounds, says its momentum cycling replaces the betas, and warns of the stair counts DeepSpeed never reads', () => {
    const range = resolveConfigObject({ ...ok, scheduler: { type: 'LRRangeTest', params: {} } }, 'test.json');
    expect(range.config.scheduler).toEqual({ type: 'LRRangeTest', params: { lr_range_test_min_lr: 1e-3, lr_range_test_step_size: 2000, lr_range_test_step_rate: 1, lr_range_test_staircase: false, last_batch_iteration: -1 } });
    expect(range.warnings).toEqual([]);
    expect(refusal({ ...ok, scheduler: { type: 'OneCycle', params: { cycle_max_lr: 1e-3 } } })).toBe('test.json: scheduler OneCycle needs "scheduler.params.cycle_min_lr" (a learning rate)');
    const cycle = resolveConfigObject({ ...ok, scheduler: { type: 'OneCycle', params: { cycle_min_lr: 1e-4, cycle_max_lr: 1e-3, cycle_first_stair_count: 3 } } }, 'test.json');
    expect(cycle.config.scheduler).toMatchObject({ type: 'OneCycle', params: { cycle_first_step_size: 2000, cycle_second_step_size: null, cycle_momentum: true, cycle_min_mom: 0.8, cycle_max_mom: 0.9 } });
    expect(cycle.warnings).toEqual([
      expect.stringContaining('"scheduler.params.cycle_first_stair_count": 3 has no effect in telechat-train (DeepSpeed\'s OneCycle keeps it but never uses it)'),
      expect.stringContaining('"scheduler.params.cycle_momentum" is true: Adam\'s beta1 cycles between cycle_min_mom 0.8 and cycle_max_mom 0.9 and beta2 is 0.99, in place of optimizer.params.betas'),
    ]);
    const still = resolveConfigObject({ ...ok, scheduler: { type: 'OneCycle', params: { cycle_min_lr: 1e-4, cycle_max_lr: 1e-3, cycle_momentum: false } } }, 'test.json');
    expect(still.warnings).toEqual([]);
  });
});

describe('stage-3 keys below stage 3', () => {
  const s3 = { stage3_prefetch_bucket_size: 1000, stage3_param_persistence_threshold: 5, stage3_max_live_parameters: 3e7, stage3_max_reuse_distance: 7, stage3_gather_16bit_weights_on_model_save: false };

  it('warn naming the key and that it only applies at stage 3', () => {
    for (const stage of [0, 1, 2]) {
      const w = warningsOf({ ...ok, zero_optimization: { stage, ...s3 } });
      const keys = ['stage3_prefetch_bucket_size', 'stage3_param_persistence_threshold', 'stage3_max_live_parameters', 'stage3_max_reuse_distance'];
      expect(w).toEqual(keys.map((k) => expect.stringMatching(new RegExp(`^test\\.json: "zero_optimization\\.${k}": \\d+ has no effect in telechat-train \\(it only applies at ZeRO stage 3; "zero_optimization\\.stage" is ${stage}\\)$`))));
    }
    // the un-prefixed aliases too, and --set is blamed for what it wrote
    expect(warningsOf({ ...ok, zero_optimization: { stage: 1 } }, { sets: ['zero_optimization.prefetch_bucket_size=1000'] })).toEqual([
      '--set zero_optimization.prefetch_bucket_size: "zero_optimization.stage3_prefetch_bucket_size": 1000 has no effect in telechat-train (it only applies at ZeRO stage 3; "zero_optimization.stage" is 1)',
    ]);
  });

  it('"auto", DeepSpeed\'s defaults and the value the run behaves as stay quiet', () => {
    const quiet = { stage3_prefetch_bucket_size: 'auto', stage3_param_persistence_threshold: 'auto', stage3_max_live_parameters: 1e9, stage3_max_reuse_distance: 1e9, stage3_gather_16bit_weights_on_model_save: true };
    expect(warningsOf({ ...ok, zero_optimization: { stage: 2, ...quiet } }, { context: { hiddenSize: 64 } })).toEqual([]);
    expect(warningsOf({ ...ok, zero_optimization: { stage: 1, stage3_prefetch_bucket_size: 5e7, stage3_gather_16bit_weights_on_model_save: false } })).toEqual([]);
  });

  it('at stage 3 the keys keep their own effect and reasons', () => {
    const w = warningsOf({ ...ok, zero_optimization: { stage: 3, ...s3 } });
    expect(w).toEqual([
      'test.json: "zero_optimization.stage3_max_live_parameters": 30000000 has no effect in telechat-train (stage 3 holds at most the running block and the prefetched one gathered)',
      'test.json: "zero_optimization.stage3_max_reuse_distance": 7 has no effect in telechat-train (a gathered block is released right after its forward or backward)',
      'test.json: "zero_optimization.stage3_gather_16bit_weights_on_model_save": false has no effect in telechat-train (checkpoints\' hf/ and final/ always hold the gathered weights)',
    ]);
  });
});

describe('errors name what the user typed', () => {
  it('no --config: the batch size is missing, and how to give it', () => {
    expect(errorOf(() => loadConfig(null))).toBe(
      'no --config given: the batch size is missing; give a DeepSpeed config with --config FILE (e.g. configs/zero2.json), or --set train_micro_batch_size_per_gpu=N',
    );
    expect(loadConfig(null, { sets: ['train_micro_batch_size_per_gpu=2'] }).config.train_batch_size).toBe(2);
  });

  it('a numeric flag echoes its value as typed', () => {
    expect(refusal(ok, { flags: { maxSteps: 'abc' } })).toBe('--max-steps: key "training.max_steps" expects an integer > 0 and <= 9007199254740991 or null, got "abc"');
    expect(refusal(ok, { flags: { seed: 'x' } })).toBe('--seed: key "training.seed" expects an integer >= 0 and <= 9007199254740991, got "x"');
    expect(refusal(ok, { flags: { epochs: '2 epochs' } })).toBe('--epochs: key "training.epochs" expects a number > 0, got "2 epochs"');
    // a number given as text is read as the number; a NaN from a parser is shown as NaN, not null
    const c = resolveConfigObject(ok, 'test.json', { flags: { maxSteps: '20', seed: '7', epochs: '1.5', maxSeqLen: '64' } }).config;
    expect([c.training.max_steps, c.training.seed, c.training.epochs, c.training.max_seq_len]).toEqual([20, 7, 1.5, 64]);
    expect(refusal(ok, { flags: { maxSteps: Number.NaN } })).toBe('--max-steps: key "training.max_steps" expects an integer > 0 and <= 9007199254740991 or null, got NaN');
  });

  it('a block a --set created is blamed on that --set, not the file', () => {
    const path = file('cfg.json', JSON.stringify({ ...ok, optimizer: undefined }));
    expect(errorOf(() => loadConfig(path, { sets: ['foo.bar=1'] }))).toMatch(/^--set foo\.bar: unknown key "foo"/);
    const noScheduler = file('nosched.json', JSON.stringify({ ...ok, scheduler: undefined }));
    expect(errorOf(() => loadConfig(noScheduler, { sets: ['scheduler.params.warmup_num_steps=5'] }))).toMatch(
      /^--set scheduler\.params\.warmup_num_steps: "scheduler\.type" is missing: the "scheduler" block needs a "type"/,
    );
    // a block the file has stays the file's
    const withOpt = file('opt.json', JSON.stringify({ ...ok, optimizer: { params: { lr: 1 } } }));
    expect(errorOf(() => loadConfig(withOpt, { sets: ['optimizer.params.lr=0.01'] }))).toBe(
      `${withOpt}: "optimizer.type" is missing: the "optimizer" block needs a "type" (one of "Adam", "AdamW")`,
    );
    expect(errorOf(() => loadConfig(path, { sets: ['zero_optimization.foo=1'] }))).toMatch(/^--set zero_optimization\.foo: unknown key "zero_optimization\.foo"/);
  });
});

describe('an optimizer block made by --set', () => {
  it('on a file without one (TeleChat\'s and LLaMA-Factory\'s configs) tunes the AdamW the run uses without it', () => {
    const path = file('noopt.json', JSON.stringify({ ...ok, optimizer: undefined }));
    const absent = loadConfig(path).config.optimizer;
    expect(absent).toEqual({ type: 'AdamW', params: { lr: 5e-5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, adam_w_mode: true, torch_adam: false, bias_correction: true } });
    expect(loadConfig(path, { sets: ['optimizer.params.lr=2e-5'] }).config.optimizer).toEqual({ ...absent, params: { ...absent.params, lr: 2e-5 } });
    expect(loadConfig(path, { sets: ['optimizer.params.weight_decay=0.1', 'optimizer.params.betas=[0.9,0.95]'] }).config.optimizer.params).toEqual({
      ...absent.params, weight_decay: 0.1, betas: [0.9, 0.95],
    });
    // naming the type changes only the type: the settings not given stay those of the run without a block
    expect(loadConfig(path, { sets: ['optimizer.type=AdamW', 'optimizer.params.weight_decay=0.1'] }).config.optimizer).toEqual({ ...absent, params: { ...absent.params, weight_decay: 0.1 } });
    expect(loadConfig(path, { sets: ['optimizer.type=Adam'] }).config.optimizer).toEqual({ type: 'Adam', params: absent.params });
    // a block the file has takes its type's defaults for what it leaves out (torch's lr 1e-3)
    const typed = file('typed.json', JSON.stringify({ ...ok, optimizer: { type: 'Adam' } }));
    expect(loadConfig(typed).config.optimizer.params.lr).toBe(1e-3);
    // an unknown key in it is still blamed on the --set that wrote it
    expect(errorOf(() => loadConfig(path, { sets: ['optimizer.params.lrr=1'] }))).toMatch(/^--set optimizer\.params\.lrr: unknown key "optimizer\.params\.lrr"/);
  });
});

describe('the resolved config says what the run does', () => {
  it('dataloader_drop_last is recorded as true (the last partial batch is always dropped); false warns', () => {
    const absent = resolveConfigObject(ok, 'test.json');
    expect(absent.config.dataloader_drop_last).toBe(true);
    expect(absent.warnings).toEqual([]);
    expect(resolvedConfigJson(absent.config)).toContain('"dataloader_drop_last": true');
    const given = resolveConfigObject({ ...ok, dataloader_drop_last: false }, 'test.json');
    expect(given.config.dataloader_drop_last).toBe(true);
    expect(given.warnings).toEqual(['test.json: "dataloader_drop_last": false has no effect in telechat-train (the last partial global batch of every epoch is always dropped)']);
  });
});

describe("the lora section takes PEFT's LoraConfig(...).to_dict()", () => {
  // PEFT 0.17's LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=[...], task_type="CAUSAL_LM").to_dict()
  const peftDict = {
    task_type: 'CAUSAL_LM', peft_type: 'LORA', auto_mapping: null, base_model_name_or_path: null, revision: null, inference_mode: false,
    r: 8, target_modules: ['query', 'key_value', 'dense'], exclude_modules: null, lora_alpha: 16, lora_dropout: 0.05, fan_in_fan_out: false,
    bias: 'none', use_rslora: false, modules_to_save: null, init_lora_weights: true, layers_to_transform: null, layers_pattern: null,
    rank_pattern: {}, alpha_pattern: {}, megatron_config: null, megatron_core: 'megatron.core', trainable_token_indices: null, loftq_config: {},
    eva_config: null, corda_config: null, use_dora: false, use_qalora: false, qalora_group_size: 16, layer_replication: null,
    runtime_config: { ephemeral_gpu_offload: false }, lora_bias: false, target_parameters: null,
  };

  it('at its defaults: accepted silently', () => {
    const { config, warnings } = resolveConfigObject({ ...ok, lora: peftDict }, 'test.json');
    expect(warnings).toEqual([]);
    expect(config.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, target_modules: ['query', 'key_value', 'dense'], init_adapter: null });
    expect(resolveConfigObject({ ...ok, lora: { ...peftDict, task_type: null, rank_pattern: null } }, 'test.json').warnings).toEqual([]);
  });

  it("every option of the adapter reader's list is accepted at its default and refused by name otherwise", () => {
    for (const [key, def] of Object.entries(PEFT_OPTION_DEFAULTS)) {
      expect(resolveConfigObject({ ...ok, lora: { r: 4, target_modules: ['query'], [key]: def } }, 'test.json').warnings, key).toEqual([]);
      const msg = refusal({ ...ok, lora: { r: 4, target_modules: ['query'], [key]: 'not-the-default' } });
      expect(msg, key).toMatch(new RegExp(`^test\\.json: "lora\\.${key}": "not-the-default" is not supported: .*(${key}|DoRA|rank-stabilised).* \\(only its default .+\\)$`));
      expect(msg).not.toMatch(/did you mean/);
    }
    expect(refusal({ ...ok, lora: { ...peftDict, rank_pattern: { query: 4 } } })).toBe(
      'test.json: "lora.rank_pattern": {"query":4} is not supported: rank_pattern is a PEFT option telechat-train does not implement (only its default {})',
    );
    expect(refusal({ ...ok, lora: { ...peftDict, init_lora_weights: 'gaussian' } })).toMatch(/^test\.json: "lora\.init_lora_weights": "gaussian" is not supported: /);
  });

  it('peft_type LORA only, inference_mode false only, task_type CAUSAL_LM only, by name', () => {
    expect(refusal({ ...ok, lora: { ...peftDict, peft_type: 'ADALORA' } })).toBe(
      'test.json: "lora.peft_type": "ADALORA" is not supported: telechat-train trains LoRA adapters only (only "LORA")',
    );
    expect(refusal({ ...ok, lora: { ...peftDict, inference_mode: true } })).toBe(
      'test.json: "lora.inference_mode": true is not supported: a LoRA run trains its adapters; inference_mode true would freeze them',
    );
    expect(refusal({ ...ok, lora: { ...peftDict, task_type: 'SEQ_CLS' } })).toMatch(/^test\.json: "lora\.task_type": "SEQ_CLS" is not supported: /);
  });

  it('bookkeeping keys that say something warn, naming the key', () => {
    const w = warningsOf({ ...ok, lora: { ...peftDict, base_model_name_or_path: 'Tele-AI/TeleChat2-7B', revision: 'main', auto_mapping: { base_model_class: 'X' }, peft_version: '0.17.0', fan_in_fan_out: true } });
    for (const key of ['base_model_name_or_path', 'revision', 'auto_mapping', 'peft_version', 'fan_in_fan_out']) {
      expect(w.filter((line) => line.startsWith(`test.json: "lora.${key}": `) && / has no effect in telechat-train \(.+\)$/.test(line)), key).toHaveLength(1);
    }
    expect(w).toHaveLength(5);
  });
});

describe('fp16 loss-scale keys that cannot act', () => {
  const tuned = { initial_scale_power: 12, loss_scale_window: 500, hysteresis: 4, consecutive_hysteresis: true, min_loss_scale: 2 };

  it('with fp16 off ("enabled": false or no enabled), a value other than the default warns that fp16 is off', () => {
    for (const fp16 of [{ enabled: false, loss_scale: 128, ...tuned }, { loss_scale: 128, ...tuned }]) {
      const w = warningsOf({ ...ok, bf16: { enabled: true }, fp16 });
      const keys: [string, string][] = [['loss_scale', '128'], ['initial_scale_power', '12'], ['loss_scale_window', '500'], ['hysteresis', '4'], ['consecutive_hysteresis', 'true'], ['min_loss_scale', '2']];
      expect(w).toEqual(keys.map(([k, v]) => `test.json: "fp16.${k}": ${v} has no effect in telechat-train (fp16 loss scaling only applies when "fp16.enabled" is true; it is false, the run is bf16)`));
    }
  });

  it('"enabled": "auto" (a config meant for either precision) and the defaults stay quiet', () => {
    // the loss-scale keys stay quiet; the one warning says that "auto" means fp32 here
    expect(warningsOf({ ...ok, fp16: { enabled: 'auto', loss_scale: 0, ...tuned } })).toEqual([
      'test.json: "fp16.enabled" is "auto", which no flag fills here: Hugging Face\'s default (false) applies and the run trains in fp32; set "bf16": {"enabled": true} (or --set bf16.enabled=true) to train in bf16',
    ]);
    expect(warningsOf({ ...ok, fp16: { enabled: false, loss_scale: 0, initial_scale_power: 16, loss_scale_window: 1000, hysteresis: 2, consecutive_hysteresis: false, min_loss_scale: 1 } })).toEqual([]);
    expect(warningsOf({ ...ok, fp16: { enabled: true, ...tuned } })).toEqual([]);
  });

  it('TeleChat\'s and LLaMA-Factory\'s "auto" precision: one warning that the run is fp32, none once a precision is chosen', () => {
    expect(warningsOf({ ...ok, bf16: { enabled: 'auto' }, fp16: { enabled: 'auto' } })).toEqual([
      'test.json: "bf16.enabled" and "fp16.enabled" are "auto", which no flag fills here: Hugging Face\'s default (false) applies and the run trains in fp32; set "bf16": {"enabled": true} (or --set bf16.enabled=true) to train in bf16',
    ]);
    expect(warningsOf({ ...ok, bf16: { enabled: true }, fp16: { enabled: 'auto' } })).toEqual([]);
    expect(warningsOf({ ...ok, bf16: { enabled: false }, fp16: { enabled: false } })).toEqual([]);
  });

  it('a static loss_scale makes the dynamic scaler\'s keys warn, naming the static scale', () => {
    expect(warningsOf({ ...ok, fp16: { enabled: true, loss_scale: 128, initial_scale_power: 12, hysteresis: 2 } })).toEqual([
      'test.json: "fp16.initial_scale_power": 12 has no effect in telechat-train (it tunes dynamic loss scaling, and "fp16.loss_scale" 128 is a static scale)',
    ]);
  });

  it('an initial scale a double cannot hold is refused: 2^1024 is infinite and could never halve to a finite scale', () => {
    expect(refusal({ ...ok, fp16: { enabled: true, initial_scale_power: 1024 } })).toBe('test.json: key "fp16.initial_scale_power" expects an integer >= 0 and <= 1023, got 1024');
    expect(warningsOf({ ...ok, fp16: { enabled: true, initial_scale_power: 1023 } })).toEqual([]);
  });
});

describe('offload blocks given as null', () => {
  it('"offload_optimizer": null and "offload_param": null mean no offload, as DeepSpeed reads them (Optional, default None)', () => {
    const { config: c, warnings } = resolveConfigObject({ ...ok, zero_optimization: { stage: 3, offload_optimizer: null, offload_param: null } }, 'test.json');
    expect([c.zero_optimization.offload_optimizer.device, c.zero_optimization.offload_param.device]).toEqual(['none', 'none']);
    expect(warnings).toEqual([]);
  });
});

describe("DeepSpeed's dtype spellings", () => {
  it('communication_data_type and seq_parallel_communication_data_type in any case (DeepSpeed lower-cases them)', () => {
    const { config: c } = resolveConfigObject({ ...ok, communication_data_type: 'FP32', seq_parallel_communication_data_type: 'Fp32' }, 'test.json');
    expect([c.communication_data_type, c.seq_parallel_communication_data_type]).toEqual(['fp32', 'fp32']);
  });

  it("data_types.grad_accum_dtype takes DeepSpeed's DtypeEnum names (float32, bfloat16, torch.float16, half, ...)", () => {
    const cases: [string, string][] = [['float32', 'fp32'], ['float', 'fp32'], ['torch.float32', 'fp32'], ['bfloat16', 'bf16'], ['torch.bfloat16', 'bf16'], ['float16', 'fp16'], ['half', 'fp16'], ['torch.float16', 'fp16']];
    for (const [given, want] of cases) {
      const { config: c, warnings } = resolveConfigObject({ ...ok, data_types: { grad_accum_dtype: given } }, 'test.json');
      expect([given, c.data_types.grad_accum_dtype, warnings]).toEqual([given, want, []]);
    }
    // a name an object inherits is no spelling of a dtype
    expect(refusal({ ...ok, data_types: { grad_accum_dtype: 'constructor' } })).toMatch(/^test\.json: key "data_types\.grad_accum_dtype" expects one of/);
    // int8 is in DtypeEnum too, but no accumulation dtype: refused naming the key
    expect(refusal({ ...ok, data_types: { grad_accum_dtype: 'int8' } })).toMatch(/^test\.json: key "data_types\.grad_accum_dtype" expects one of "fp32", "bf16", "fp16"/);
  });
});

describe("DeepSpeed's un-prefixed stage-3 field names", () => {
  it('module_granularity_threshold, use_all_reduce_for_fetch_params and allgather_sequential are read as their stage3_ keys (DeepSpeed populates by field name)', () => {
    const w = warningsOf({ ...ok, zero_optimization: { stage: 3, module_granularity_threshold: 100, use_all_reduce_for_fetch_params: true, allgather_sequential: true } });
    expect(w).toEqual([
      'test.json: "zero_optimization.stage3_module_granularity_threshold": 100 has no effect in telechat-train (ZeRO gathers and reduces one model block at a time, so element-count buckets do not apply)',
      'test.json: "zero_optimization.stage3_use_all_reduce_for_fetch_params": true has no effect in telechat-train (blocks are gathered with all-gather)',
      'test.json: "zero_optimization.stage3_allgather_sequential": true has no effect in telechat-train (ZeRO gathers and reduces one model block at a time, so element-count buckets do not apply)',
    ]);
    expect(refusal({ ...ok, zero_optimization: { stage: 3, allgather_sequential: true, stage3_allgather_sequential: true } })).toBe(
      'test.json: "zero_optimization.allgather_sequential" and "zero_optimization.stage3_allgather_sequential" are the same setting; give only one',
    );
  });
});

describe('offload_optimizer.ratio', () => {
  it('a ratio below 1 asks for partial offload, which does not exist here: refused by name, whatever the device', () => {
    for (const device of ['none', 'cpu']) {
      expect(refusal({ ...ok, zero_optimization: { stage: 3, offload_optimizer: { device, ratio: 0.3 } } })).toBe(
        'test.json: "zero_optimization.offload_optimizer.ratio": 0.3 is not supported: partial offload (DeepSpeed\'s Twin-Flow, a ratio below 1) does not exist here; device "cpu" offloads the whole optimizer state');
      expect(warningsOf({ ...ok, zero_optimization: { stage: 3, offload_optimizer: { device, ratio: 1 } } }).filter((w) => w.includes('ratio'))).toEqual([]);
    }
  });
});
