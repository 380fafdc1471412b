// Every way a config can be wrong gives one clear error naming the file (or flag) and key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, resolveConfigObject, type LoadOptions } from '../../src/config/index.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('config-errors');
afterAll(() => tmp.cleanup());

/** The error message resolving `cfg` (named zero3.json) throws; fails the test if it does not throw. */
function errorOf(cfg: unknown, opts: LoadOptions = {}): string {
  try {
    resolveConfigObject(cfg, 'zero3.json', { context: { hiddenSize: 64 }, ...opts });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const ok = { train_micro_batch_size_per_gpu: 1 };

describe('config file reading', () => {
  it('names the file, line and column of a JSON syntax error', () => {
    const path = join(tmp.dir, 'broken.json');
    const cases: [string, string][] = [
      ['{\n  "train_batch_size": 8,\n}\n', '3:1: invalid JSON: expected a property name in double quotes, found "}"'],
      ['{\n  "fp16": {"enabled": tru}\n}', '2:23: invalid JSON: expected a value, found "t"'],
      ['{"a": ', '1:7: invalid JSON: unexpected end of file'],
      ['{"a": 1 "b": 2}', '1:9: invalid JSON: expected \',\' or \'}\', found "\\""'],
      ['{"a": [1, 2,]}', '1:13: invalid JSON: expected a value, found "]"'],
      ['{"a": 1}\n{"b": 2}', '2:1: invalid JSON: unexpected text after the JSON value, found "{"'],
      ["{'a': 1}", '1:2: invalid JSON: expected a property name in double quotes, found "\'"'],
    ];
    for (const [text, where] of cases) {
      writeFileSync(path, text);
      expect(() => loadConfig(path)).toThrow(`${path}:${where}`);
    }
  });

  it('names a missing file and a non-object top level', () => {
    expect(() => loadConfig(join(tmp.dir, 'nope.json'))).toThrow(`${join(tmp.dir, 'nope.json')}: config file not found`);
    expect(errorOf([1, 2])).toBe('zero3.json: a config must be a JSON object');
  });
});

describe('unknown keys', () => {
  it('names the dotted path and the closest valid key', () => {
    expect(errorOf({ ...ok, zero_optimization: { stage: 3, stage3_prefetch_bucket_sz: 5 } })).toBe(
      'zero3.json: unknown key "zero_optimization.stage3_prefetch_bucket_sz" (did you mean "stage3_prefetch_bucket_size"?)',
    );
    expect(errorOf({ ...ok, gradient_cliping: 1 })).toBe('zero3.json: unknown key "gradient_cliping" (did you mean "gradient_clipping"?)');
    expect(errorOf({ ...ok, fp16: { enabled: true, loss_scale_windw: 10 } })).toBe(
      'zero3.json: unknown key "fp16.loss_scale_windw" (did you mean "loss_scale_window"?)',
    );
    expect(errorOf({ ...ok, zero_optimization: { offload_optimizer: { device: 'cpu', pin_memroy: true } } })).toBe(
      'zero3.json: unknown key "zero_optimization.offload_optimizer.pin_memroy" (did you mean "pin_memory"?)',
    );
    expect(errorOf({ ...ok, training: { max_step: 5 } })).toBe('zero3.json: unknown key "training.max_step" (did you mean "max_steps"?)');
  });

  it('inside optimizer and scheduler params, checked against the chosen type', () => {
    expect(errorOf({ ...ok, optimizer: { type: 'AdamW', params: { lr: 1e-3, beta: [0.9, 0.99] } } })).toBe(
      'zero3.json: unknown key "optimizer.params.beta" (did you mean "betas"?)',
    );
    expect(errorOf({ ...ok, scheduler: { type: 'WarmupLR', params: { warmup_num_step: 10 } } })).toBe(
      'zero3.json: unknown key "scheduler.params.warmup_num_step" (did you mean "warmup_num_steps"?)',
    );
    // total_num_steps exists for WarmupDecayLR but not for WarmupLR.
    expect(errorOf({ ...ok, scheduler: { type: 'WarmupLR', params: { total_num_steps: 10 } } })).toBe(
      'zero3.json: unknown key "scheduler.params.total_num_steps" for scheduler type WarmupLR (it is a parameter of WarmupDecayLR, WarmupCosineLR, cosine, linear)',
    );
    expect(errorOf({ ...ok, scheduler: { type: 'cosine', params: { cos_min_ratio: 0.1 } } })).toBe(
      'zero3.json: unknown key "scheduler.params.cos_min_ratio" for scheduler type cosine (it is a parameter of WarmupCosineLR)',
    );
    expect(errorOf({ ...ok, optimizer: { type: 'AdamW', parms: {} } })).toBe('zero3.json: unknown key "optimizer.parms" (did you mean "params"?)');
  });

  it('says where a key belongs when it is in the wrong block', () => {
    expect(errorOf({ ...ok, stage: 2 })).toBe('zero3.json: unknown key "stage" ("stage" belongs in "zero_optimization")');
    expect(errorOf({ ...ok, fp16: { stage3_max_live_parameters: 1 } })).toBe(
      'zero3.json: unknown key "fp16.stage3_max_live_parameters" ("stage3_max_live_parameters" belongs in "zero_optimization")',
    );
    expect(errorOf({ ...ok, zero_optimization: { train_batch_size: 4 } })).toBe(
      'zero3.json: unknown key "zero_optimization.train_batch_size" ("train_batch_size" belongs in the top level)',
    );
  });

  it('rejects unknown optimizer and scheduler types with a suggestion', () => {
    expect(errorOf({ ...ok, optimizer: { type: 'AdamWW', params: {} } })).toBe(
      'zero3.json: unsupported optimizer type "AdamWW" (did you mean "AdamW"?); supported: Adam, AdamW',
    );
    expect(errorOf({ ...ok, scheduler: { type: 'WarmupCosine', params: {} } })).toBe(
      'zero3.json: unsupported scheduler type "WarmupCosine" (did you mean "WarmupCosineLR"?); supported: WarmupLR, WarmupDecayLR, WarmupCosineLR, LRRangeTest, OneCycle, cosine, linear, constant, StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR, CyclicLR',
    );
    expect(errorOf({ ...ok, scheduler: { params: {} } })).toBe(
      'zero3.json: "scheduler.type" is missing: the "scheduler" block needs a "type" (one of "WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "LRRangeTest", "OneCycle", "cosine", "linear", "constant", "StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "CyclicLR")',
    );
  });
});

describe('wrong types', () => {
  it('names the key, the expected type and the value', () => {
    expect(errorOf({ ...ok, zero_optimization: { stage: 'three' } })).toBe(
      'zero3.json: key "zero_optimization.stage" expects an integer >= 0 and <= 3, got "three"',
    );
    expect(errorOf({ ...ok, zero_optimization: { stage: 4 } })).toBe('zero3.json: key "zero_optimization.stage" expects an integer >= 0 and <= 3, got 4');
    expect(errorOf({ ...ok, fp16: { enabled: 'yes' } })).toBe('zero3.json: key "fp16.enabled" expects true or false or "auto", got "yes"');
    expect(errorOf({ ...ok, fp16: true })).toBe('zero3.json: key "fp16" expects an object, got true');
    expect(errorOf({ ...ok, gradient_clipping: -1 })).toBe('zero3.json: key "gradient_clipping" expects a number >= 0 or "auto", got -1');
    expect(errorOf({ ...ok, steps_per_print: 2.5 })).toBe('zero3.json: key "steps_per_print" expects an integer > 0 or null, got 2.5');
    expect(errorOf({ ...ok, optimizer: { type: 'AdamW', params: { betas: [0.9] } } })).toBe(
      'zero3.json: key "optimizer.params.betas" expects an array of 2 numbers or "auto", got [0.9]',
    );
    expect(errorOf({ ...ok, zero_optimization: { offload_param: { device: 'gpu' } } })).toBe(
      'zero3.json: key "zero_optimization.offload_param.device" expects one of "none", "cpu", "nvme", got "gpu"',
    );
    expect(errorOf({ ...ok, training: { on_nonfinite: 'ignore' } })).toBe(
      'zero3.json: key "training.on_nonfinite" expects one of "skip", "abort", got "ignore"',
    );
    expect(errorOf({ ...ok, training: { weight_decay_exclude: ['norm', 'layernorm'] } })).toBe(
      'zero3.json: key "training.weight_decay_exclude" expects an array of any number of strings ("embedding", "matrix", "norm", "bias"), got ["norm","layernorm"]',
    );
    // "auto" only where Hugging Face fills it.
    expect(errorOf({ ...ok, zero_optimization: { stage: 'auto' } })).toMatch(/key "zero_optimization.stage" expects an integer .* got "auto"/);
    expect(errorOf({ ...ok, model: { init: 'zeros' } })).toBe('zero3.json: key "model.init" expects one of "pretrained", "random" or null, got "zeros"');
    // a seed a double cannot hold exactly would seed another stream than the one written down
    expect(errorOf({ ...ok, training: { seed: 2 ** 53 } })).toBe('zero3.json: key "training.seed" expects an integer >= 0 and <= 9007199254740991, got 9007199254740992');
  });
});

describe('batch triple', () => {
  it('prints the equation with the numbers when it does not hold', () => {
    expect(errorOf({ train_batch_size: 32, train_micro_batch_size_per_gpu: 4, gradient_accumulation_steps: 2 }, { context: { worldSize: 2 } })).toBe(
      'zero3.json: train_batch_size == train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size does not hold: 32 != 4 * 2 * 2 (= 16)',
    );
    // Floor division leaves a remainder: 10 // 4 // 1 = 2 accumulation steps, 4 * 2 != 10.
    expect(errorOf({ train_batch_size: 10, train_micro_batch_size_per_gpu: 4 })).toBe(
      'zero3.json: train_batch_size == train_micro_batch_size_per_gpu * gradient_accumulation_steps * world_size does not hold: 10 != 4 * 2 * 1 (= 8)',
    );
  });

  it('needs a batch or micro batch, and each member > 0 after inference', () => {
    expect(errorOf({})).toBe('zero3.json: either "train_batch_size" or "train_micro_batch_size_per_gpu" must be given');
    expect(errorOf({ gradient_accumulation_steps: 4 })).toBe('zero3.json: either "train_batch_size" or "train_micro_batch_size_per_gpu" must be given');
    expect(errorOf({ train_batch_size: 2 }, { context: { worldSize: 4 } })).toBe(
      'zero3.json: "train_micro_batch_size_per_gpu" resolves to 0 (must be > 0) from train_batch_size 2, train_micro_batch_size_per_gpu 0, gradient_accumulation_steps 1, world_size 4',
    );
    expect(errorOf({ train_batch_size: 8, gradient_accumulation_steps: 16 })).toMatch(/"train_micro_batch_size_per_gpu" resolves to 0 \(must be > 0\)/);
    expect(errorOf({ train_batch_size: 0 })).toBe('zero3.json: key "train_batch_size" expects an integer > 0 or "auto" or null, got 0');
  });

  it('refuses a data.val_size above 1 that is not a whole count, naming where it was given', () => {
    expect(errorOf({ ...ok, data: { val_size: 1.5 } })).toBe('zero3.json: "data.val_size" must be a fraction in (0, 1) or a whole number of conversations >= 1, got 1.5');
    expect(errorOf(ok, { sets: ['data.val_size=1.5'] })).toBe('--set data.val_size: "data.val_size" must be a fraction in (0, 1) or a whole number of conversations >= 1, got 1.5');
  });

  it('refuses a dataset smaller than one global batch', () => {
    expect(errorOf({ train_batch_size: 8 }, { context: { datasetRows: 7 } })).toBe(
      'the dataset has 7 rows, fewer than one global batch (train_batch_size 8, zero3.json): give a smaller train_batch_size (or micro batch x accumulation steps x ranks) or more data',
    );
  });
});

describe('cross-key rules', () => {
  it('fp16 and bf16 both enabled', () => {
    expect(errorOf({ ...ok, fp16: { enabled: true }, bf16: { enabled: true } })).toBe(
      'zero3.json: "fp16.enabled" and "bf16.enabled" are both true; enable at most one',
    );
    // "auto" filled from both flags collides the same way.
    expect(errorOf({ ...ok, fp16: { enabled: 'auto' }, bf16: { enabled: 'auto' } }, { context: { hf: { fp16: true, bf16: true } } })).toMatch(/both true/);
  });

  it('allgather_bucket_size must be even', () => {
    expect(errorOf({ ...ok, zero_optimization: { allgather_bucket_size: 500000001 } })).toBe(
      'zero3.json: "zero_optimization.allgather_bucket_size" must be even, got 500000001',
    );
  });

  it('hidden-size "auto" needs the model', () => {
    expect(errorOf({ ...ok, zero_optimization: { reduce_bucket_size: 'auto' } }, { context: {} })).toBe(
      'zero3.json: "zero_optimization.reduce_bucket_size" is "auto": the model\'s hidden size is needed to resolve it (give the model, or a number)',
    );
  });

  it.each([
    ['autotuning', 'no config search: batch sizes and ZeRO settings are taken as given'],
    ['elasticity', 'the global batch is fixed; resume on another world size keeps it'],
    ['amp', 'apex AMP: use the bf16 or fp16 block'],
  ])('an enabled %s block is refused, not silently ignored', (block, why) => {
    expect(errorOf({ ...ok, [block]: { enabled: true } })).toBe(`zero3.json: "${block}.enabled": true is not supported: ${why}`);
    // disabled, it is kept verbatim (with a warning) like the monitoring blocks
    const { config } = resolveConfigObject({ ...ok, [block]: { enabled: false } }, 'zero3.json', { context: { hiddenSize: 64 } });
    expect(config.ignored).toEqual({ [block]: { enabled: false } });
  });

  it('unsupported DeepSpeed features are refused unless at their defaults', () => {
    expect(errorOf({ ...ok, zero_optimization: { offload_optimizer: { device: 'nvme', nvme_path: '/x' } } })).toBe(
      'zero3.json: "zero_optimization.offload_optimizer.device": "nvme" is not supported: NVMe offload is not implemented (use "cpu" or "none")',
    );
    expect(errorOf({ ...ok, zero_optimization: { stage: 0, offload_optimizer: { device: 'cpu' } } })).toBe(
      'zero3.json: "zero_optimization.offload_optimizer" needs ZeRO stage 1, 2 or 3 (stage is 0)',
    );
    expect(errorOf({ ...ok, zero_optimization: { stage: 3, zero_quantized_weights: true } })).toBe(
      'zero3.json: "zero_optimization.zero_quantized_weights": true is not supported: communication and weights are never quantized',
    );
    expect(errorOf({ ...ok, fp16: { enabled: true, fp16_master_weights_and_grads: true } })).toBe(
      'zero3.json: "fp16.fp16_master_weights_and_grads": true is not supported: master weights and optimizer math are fp32',
    );
    expect(errorOf({ ...ok, optimizer: { type: 'Adam', params: { bias_correction: false } } })).toBe(
      'zero3.json: "optimizer.params.bias_correction": false is not supported: Adam always applies bias correction',
    );
  });
});

describe('bad scheduler params', () => {
  const sched = (type: string, params: object, opts: LoadOptions = {}): string => errorOf({ ...ok, scheduler: { type, params } }, opts);

  it('types and ranges', () => {
    expect(sched('WarmupLR', { warmup_type: 'cubic' })).toBe('zero3.json: key "scheduler.params.warmup_type" expects one of "log", "linear", got "cubic"');
    expect(sched('WarmupLR', { warmup_num_steps: -5 })).toBe('zero3.json: key "scheduler.params.warmup_num_steps" expects an integer >= 0 or "auto", got -5');
    expect(sched('WarmupCosineLR', { total_num_steps: 100, cos_min_ratio: 1.5 })).toBe(
      'zero3.json: key "scheduler.params.cos_min_ratio" expects a number >= 0 and <= 1, got 1.5',
    );
    expect(sched('cosine', { warmup_ratio: 2 })).toBe('zero3.json: key "scheduler.params.warmup_ratio" expects a number >= 0 and <= 1 or null, got 2');
    expect(sched('WarmupCosineLR', { total_num_steps: 100, warmup_min_ratio: 'auto' })).toMatch(/"scheduler.params.warmup_min_ratio" expects a number >= 0 and <= 1, got "auto"/);
  });

  it('required totals and the run length', () => {
    expect(sched('WarmupDecayLR', {})).toBe(
      'zero3.json: scheduler WarmupDecayLR needs "scheduler.params.total_num_steps" (a number, or "auto" for the run length)',
    );
    expect(sched('WarmupCosineLR', { warmup_num_steps: 10 })).toMatch(/needs "scheduler.params.total_num_steps"/);
    expect(sched('WarmupDecayLR', { total_num_steps: 'auto' })).toBe(
      'zero3.json: "scheduler.params.total_num_steps" needs the run length: set "training.max_steps" (--max-steps) or give the dataset so epochs can be counted',
    );
    expect(sched('cosine', { warmup_ratio: 0.1 })).toMatch(/"scheduler.params.warmup_ratio" needs the run length/);
    expect(sched('WarmupCosineLR', { total_num_steps: 10, warmup_num_steps: 10 })).toBe(
      'zero3.json: "scheduler.params.total_num_steps" (10) must exceed the warmup steps (max(2, 10) = 10) for WarmupCosineLR',
    );
    expect(sched('linear', { warmup_num_steps: 20, total_num_steps: 10 })).toBe(
      'zero3.json: warmup steps (20) exceed "scheduler.params.total_num_steps" (10)',
    );
  });

  it('an alias and its target together', () => {
    expect(sched('cosine', { warmup_proportion: 0.1, warmup_ratio: 0.1 }, { flags: { maxSteps: 10 } })).toBe(
      'zero3.json: "scheduler.params.warmup_proportion" and "scheduler.params.warmup_ratio" are the same setting; give only one',
    );
  });
});

describe('legacy forms', () => {
  it('deprecated cpu_offload together with offload_optimizer is a conflict', () => {
    expect(errorOf({ ...ok, zero_optimization: { stage: 2, cpu_offload: true, offload_optimizer: { device: 'cpu' } } })).toBe(
      'zero3.json: "zero_optimization.cpu_offload" (deprecated) and "zero_optimization.offload_optimizer" are the same setting; keep only "zero_optimization.offload_optimizer"',
    );
    expect(errorOf({ ...ok, zero_optimization: { stage: 2, cpu_offload: 'yes' } })).toBe(
      'zero3.json: key "zero_optimization.cpu_offload" expects true or false, got "yes"',
    );
    expect(errorOf({ ...ok, zero_optimization: { stage3_gather_fp16_weights_on_model_save: true, stage3_gather_16bit_weights_on_model_save: false } })).toBe(
      'zero3.json: "zero_optimization.stage3_gather_fp16_weights_on_model_save" and "zero_optimization.stage3_gather_16bit_weights_on_model_save" are the same setting; give only one',
    );
  });
});

describe('overrides', () => {
  it('errors name the --set flag or the dedicated flag that caused them', () => {
    expect(errorOf(ok, { sets: ['zero_optimization.stgae=2'] })).toBe(
      '--set zero_optimization.stgae: unknown key "zero_optimization.stgae" (did you mean "stage"?)',
    );
    expect(errorOf(ok, { sets: ['zero_optimization.stage=five'] })).toBe(
      '--set zero_optimization.stage: key "zero_optimization.stage" expects an integer >= 0 and <= 3, got "five"',
    );
    expect(errorOf(ok, { flags: { maxSteps: 0 } })).toBe('--max-steps: key "training.max_steps" expects an integer > 0 and <= 9007199254740991 or null, got 0');
    expect(errorOf(ok, { flags: { epochs: -1 } })).toBe('--epochs: key "training.epochs" expects a number > 0, got -1');
  });

  it('malformed --set arguments', () => {
    expect(errorOf(ok, { sets: ['zero_optimization.stage'] })).toBe(
      '--set zero_optimization.stage: expected dotted.key=VALUE (VALUE as JSON, e.g. --set zero_optimization.stage=2)',
    );
    expect(errorOf(ok, { sets: ['a..b=1'] })).toMatch(/^--set a\.\.b=1: expected dotted\.key=VALUE/);
    expect(errorOf({ ...ok, fp16: { enabled: false } }, { sets: ['fp16.enabled.x=1'] })).toBe('--set fp16.enabled.x: "fp16.enabled" is false, not an object');
  });
});

describe('DeepSpeed features telechat-train lacks are refused by name, never with "did you mean"', () => {
  it.each([
    [{ tensor_parallel: { autotp_size: 2 } }, 'tensor_parallel.autotp_size": 2', 'telechat-train has no tensor parallelism'],
    [{ tensor_parallel: { tp: { tp_size: 4 } } }, 'tensor_parallel.tp.tp_size": 4', 'telechat-train has no tensor parallelism'],
    [{ sequence_parallel_size: 2 }, 'sequence_parallel_size": 2', 'telechat-train has no sequence parallelism'],
    [{ pipeline: { stages: 2 } }, 'pipeline"', 'telechat-train has no pipeline parallelism'],
    [{ zero_optimization: { stage: 2, zenflow: { topk_ratio: 0.1 } } }, 'zero_optimization.zenflow"', 'ZenFlow'],
    [{ zero_optimization: { stage: 3, zeropp_loco_param: { err_beta: 0.8 } } }, 'zero_optimization.zeropp_loco_param"', 'LoCo-ZeRO++'],
    [{ zero_optimization: { stage: 2, offload_optimizer: { device: 'cpu', super_offload: true } } }, 'zero_optimization.offload_optimizer.super_offload": true', 'SuperOffload'],
    [{ torch_autocast: { enabled: true, dtype: 'bfloat16' } }, 'torch_autocast.enabled": true', 'torch autocast is not implemented'],
    [{ compression_training: { weight_quantization: { shared_parameters: { enabled: true } } } }, 'compression_training.weight_quantization.shared_parameters.enabled": true', 'quantization-aware training'],
    [{ data_efficiency: { enabled: true } }, 'data_efficiency.enabled": true', 'curriculum learning and random-LTD'],
    [{ curriculum_learning: { enabled: true } }, 'curriculum_learning.enabled": true', 'curriculum learning is not implemented'],
    [{ progressive_layer_drop: { enabled: true } }, 'progressive_layer_drop.enabled": true', 'progressive layer drop'],
    [{ eigenvalue: { enabled: true } }, 'eigenvalue.enabled": true', 'eigenvalue'],
    [{ hybrid_engine: { enabled: true } }, 'hybrid_engine.enabled": true', 'hybrid engine'],
    [{ nebula: { enabled: true } }, 'nebula.enabled": true', 'Nebula'],
    [{ quantize_training: { enabled: true } }, 'quantize_training.enabled": true', 'MoQ'],
    [{ weight_quantization: { post_init_quant: {} } }, 'weight_quantization"', 'weights are never quantized'],
    [{ sparse_attention: { mode: 'fixed' } }, 'sparse_attention"', 'attention is always dense'],
    [{ compile: { deepcompile: true } }, 'compile.deepcompile": true', 'DeepCompile'],
    [{ expert_parallel: { enabled: true } }, 'expert_parallel.enabled": true', 'mixture-of-experts'],
    [{ bf16: { enabled: true, bf16_master_weights_and_grads: true } }, 'bf16.bf16_master_weights_and_grads": true', 'fp32'],
    [{ optimizer: { type: 'AdamW', params: { amsgrad: true } } }, 'optimizer.params.amsgrad": true', 'AMSGrad'],
    [{ zero_optimization: { stage: 3, mics_shard_size: 8 } }, 'zero_optimization.mics_shard_size": 8', 'MiCS'],
  ])('%j', (block, key, why) => {
    const msg = errorOf({ ...ok, ...block });
    expect(msg).toContain(`zero3.json: "${key} is not supported: `);
    expect(msg).toContain(why);
    expect(msg).not.toMatch(/did you mean/);
  });

  it('a block needing a network service is refused only when enabled', () => {
    for (const block of ['wandb', 'comet']) {
      expect(errorOf({ ...ok, [block]: { enabled: true, project: 'p' } })).toBe(
        `zero3.json: "${block}.enabled": true is not supported: it sends metrics to a network service; metrics go to metrics.jsonl`,
      );
      const { config, warnings } = resolveConfigObject({ ...ok, [block]: { enabled: false, project: 'p' } }, 'zero3.json', {});
      expect(config.ignored).toEqual({ [block]: { enabled: false, project: 'p' } });
      expect(warnings).toEqual([`zero3.json: "${block}" is accepted but has no effect in telechat-train (metrics go to metrics.jsonl)`]);
    }
  });

  it('an unknown key far from every valid one gets no misleading suggestion', () => {
    expect(errorOf({ ...ok, telemetry_block: {} })).toBe('zero3.json: unknown key "telemetry_block" (neither DeepSpeed\'s config nor telechat-train\'s sections (model, data, training, lora) have it): remove it');
    expect(errorOf({ ...ok, zero_optimization: { completely_made_up: 1 } })).toBe('zero3.json: unknown key "zero_optimization.completely_made_up" ("zero_optimization" has no such key): remove it');
  });

  it('"_" keys are comments only at the top level', () => {
    expect(errorOf({ ...ok, zero_optimization: { _comment: 'x' } })).toBe('zero3.json: unknown key "zero_optimization._comment" ("zero_optimization" has no such key): remove it');
  });
});
