// Config-file and flag contract findings of the command-line acceptance audit: nothing given is
// silently dropped, and bad values are one error naming the file (line:column) or flag and key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, resolveConfigObject } from '../../src/config/index.js';
import { configErrorOf } from '../helpers/config_error.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('config-contract');
afterAll(() => tmp.cleanup());

function file(name: string, text: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, text);
  return path;
}

const errorOf = configErrorOf;

describe('a key given twice in one object', () => {
  it('is refused at its line and column, naming the first (JSON.parse would keep the last silently; DeepSpeed refuses it)', () => {
    const top = file('top.json', '{"train_micro_batch_size_per_gpu": 2, "train_micro_batch_size_per_gpu": 4}');
    expect(errorOf(() => loadConfig(top))).toBe(`${top}:1:39: duplicate key "train_micro_batch_size_per_gpu" (first given at 1:2); keep one`);
    const nested = file('nested.json', '{\n  "train_micro_batch_size_per_gpu": 2,\n  "zero_optimization": {\n    "stage": 2,\n    "offload_optimizer": {"device": "cpu"},\n    "stage": 3\n  }\n}\n');
    expect(errorOf(() => loadConfig(nested))).toBe(`${nested}:6:5: duplicate key "zero_optimization.stage" (first given at 4:5); keep one`);
  });

  it('equal names in different objects, escaped names and keys inside arrays are told apart', () => {
    const fine = file('fine.json', JSON.stringify({
      train_micro_batch_size_per_gpu: 2,
      optimizer: { type: 'AdamW', params: { lr: 1e-4, betas: [0.9, 0.95] } },
      scheduler: { type: 'WarmupLR', params: { warmup_num_steps: 10 } },
      _comment: 'a "quoted" \\ note',
      lora: { r: 4, target_modules: ['query', 'dense'] },
    }, null, 2));
    expect(loadConfig(fine).config.optimizer.params.lr).toBe(1e-4);
    const escaped = file('escaped.json', '{"train_micro_batch_size_per_gpu": 2, "_c\\u006fmment": 1, "_comment": 2}');
    expect(errorOf(() => loadConfig(escaped))).toBe(`${escaped}:1:59: duplicate key "_comment" (first given at 1:39); keep one`);
    const inArray = file('array.json', '{"train_micro_batch_size_per_gpu": 2, "_notes": [{"a": 1}, {"a": 1, "a": 2}]}');
    expect(errorOf(() => loadConfig(inArray))).toBe(`${inArray}:1:69: duplicate key "_notes[1].a" (first given at 1:61); keep one`);
  });
});

describe('training.epochs with training.max_steps set', () => {
  const ok = { train_micro_batch_size_per_gpu: 1 };
  const epochWarnings = (cfg: object, flags = {}): string[] =>
    resolveConfigObject(cfg, 'run.json', { flags, context: { datasetRows: 100 } }).warnings.filter((w) => w.includes('"training.epochs"'));

  it('warns that epochs have no effect, naming who gave each (max_steps wins, as in HF)', () => {
    // the shipped configs set max_steps: --epochs on the command line says nothing then
    const both = epochWarnings({ ...ok, training: { max_steps: 40 } }, { epochs: '1' });
    expect(both).toEqual([
      '--epochs: "training.epochs": 1 has no effect: "training.max_steps" 40 (run.json) sets the run length and wins over epochs (unset training.max_steps to train by epochs)',
    ]);
    expect(epochWarnings({ ...ok, training: { epochs: 2 } }, { maxSteps: '5' })).toEqual([
      'run.json: "training.epochs": 2 has no effect: "training.max_steps" 5 (--max-steps) sets the run length and wins over epochs (unset training.max_steps to train by epochs)',
    ]);
    const c = resolveConfigObject({ ...ok, training: { max_steps: 40 } }, 'run.json', { flags: { epochs: '1' }, context: { datasetRows: 100 } }).config;
    expect(c.run.total_steps).toBe(40);
  });

  it('stays quiet when only one of them decides the run length', () => {
    expect(epochWarnings({ ...ok, training: { max_steps: 40 } })).toEqual([]);
    expect(epochWarnings({ ...ok, training: { epochs: 2 } })).toEqual([]);
    expect(epochWarnings({ ...ok, training: { epochs: 2, max_steps: null } })).toEqual([]);
  });
});

describe('training.log_file', () => {
  const ok = { train_micro_batch_size_per_gpu: 1 };
  it('must name a file inside the output dir: absolute, empty, a dir or a path climbing out is refused by name (was an errno from the trainer, or a log written outside)', () => {
    for (const bad of ['/var/log/train.log', '', '.', 'logs/', '../train.log', 'logs/../../train.log']) {
      expect(errorOf(() => resolveConfigObject({ ...ok, training: { log_file: bad } }, 'run.json')), bad).toBe(
        `run.json: "training.log_file" ${JSON.stringify(bad)} must name a file inside the output dir, relative to it (e.g. "train.log" or "logs/train.log")`,
      );
    }
    for (const good of ['train.log', 'logs/train.log', './run.log', 'a/../b.log']) {
      expect(resolveConfigObject({ ...ok, training: { log_file: good } }, 'run.json').config.training.log_file).toBe(good);
    }
  });
});

describe('run lengths a step counter cannot hold', () => {
  const ok = { train_micro_batch_size_per_gpu: 1 };
  it('max_steps above 2^53 - 1, or epochs that make that many steps, are refused by name (they were taken, counted inexactly)', () => {
    expect(errorOf(() => resolveConfigObject(ok, 'run.json', { flags: { maxSteps: '1e300' } }))).toBe(
      '--max-steps: key "training.max_steps" expects an integer > 0 and <= 9007199254740991 or null, got 1e+300',
    );
    expect(resolveConfigObject(ok, 'run.json', { flags: { maxSteps: '9007199254740991' } }).config.run.total_steps).toBe(Number.MAX_SAFE_INTEGER);
    expect(errorOf(() => resolveConfigObject(ok, 'run.json', { flags: { epochs: '1e300' }, context: { datasetRows: 100 } }))).toBe(
      '--epochs: "training.epochs" 1e+300 makes 1e+302 steps of 100 per epoch, more than a step counter holds exactly (9007199254740991)',
    );
  });
});

describe('Hugging Face TrainingArguments names', () => {
  const ok = { train_micro_batch_size_per_gpu: 1 };
  it('are refused pointing to where telechat-train takes the setting from (a bare "unknown key" before)', () => {
    const refused = (cfg: object): string => errorOf(() => resolveConfigObject({ ...ok, ...cfg }, 'run.json'));
    expect(refused({ training: { learning_rate: 1e-4 } })).toBe(
      'run.json: unknown key "training.learning_rate" (a Hugging Face TrainingArguments name: telechat-train takes it from "optimizer.params.lr")',
    );
    expect(refused({ training: { per_device_train_batch_size: 2 } })).toBe(
      'run.json: unknown key "training.per_device_train_batch_size" (a Hugging Face TrainingArguments name: telechat-train takes it from "train_micro_batch_size_per_gpu")',
    );
    expect(refused({ training: { bf16: true } })).toBe(
      'run.json: unknown key "training.bf16" (a Hugging Face TrainingArguments name: telechat-train takes it from "bf16": {"enabled": true})',
    );
    expect(refused({ training: { num_train_epochs: 1 } })).toBe(
      'run.json: unknown key "training.num_train_epochs" (a Hugging Face TrainingArguments name: telechat-train takes it from "training.epochs" (--epochs))',
    );
    expect(refused({ optimizer: { type: 'AdamW', params: { learning_rate: 1e-4 } } })).toBe(
      'run.json: unknown key "optimizer.params.learning_rate" (a Hugging Face TrainingArguments name: telechat-train takes it from "optimizer.params.lr")',
    );
    // a key of ours elsewhere still says where it belongs; one of ours under its own name is taken
    expect(refused({ training: { stage: 2 } })).toBe('run.json: unknown key "training.stage" ("stage" belongs in "zero_optimization")');
    expect(resolveConfigObject({ ...ok, gradient_accumulation_steps: 4 }, 'run.json').config.gradient_accumulation_steps).toBe(4);
  });
});

describe('a config saved with a UTF-8 byte-order mark', () => {
  it('is refused saying so (the message showed an invisible character)', () => {
    const bom = file('bom.json', '\uFEFF{"train_micro_batch_size_per_gpu": 2}');
    expect(errorOf(() => loadConfig(bom))).toBe(`${bom}:1:1: invalid JSON: the file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without one`);
  });
});

describe('an activation_checkpointing block', () => {
  it('turns gradient checkpointing on unless training.gradient_checkpointing says false, which warns that the block has no effect', () => {
    const block = { train_micro_batch_size_per_gpu: 2, activation_checkpointing: { partition_activations: false } };
    const on = resolveConfigObject(block, 'run.json');
    expect(on.config.training.gradient_checkpointing).toBe(true);
    expect(on.warnings.filter((w) => w.includes('activation_checkpointing'))).toEqual([]);
    const off = resolveConfigObject({ ...block, training: { gradient_checkpointing: false } }, 'run.json');
    expect(off.config.training.gradient_checkpointing).toBe(false);
    expect(off.warnings.filter((w) => w.includes('activation_checkpointing'))).toEqual([
      'run.json: the "activation_checkpointing" block has no effect: run.json sets "training.gradient_checkpointing" to false, so no block is recomputed']);
  });
});
