// adapter_config.json as PEFT writes it: every key PEFT 0.19.1 saves is a key we know (an option
// we do not implement is refused by name unless at its default); a key we do not know at all is
// accepted only when off.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adapterConfigWarnings, readAdapterConfig } from '../../src/checkpoint/peft.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('peft-config');
afterAll(() => tmp.cleanup());

// every key PEFT 0.19.1's save_pretrained writes to adapter_config.json, at its defaults (r, alpha,
// dropout, targets and base ours: an adapter of TeleChat2's module names)
const PEFT_0191 = {
  alora_invocation_tokens: null, alpha_pattern: {}, arrow_config: null, auto_mapping: null, base_model_name_or_path: 'Tele-AI/TeleChat2-7B',
  bias: 'none', corda_config: null, ensure_weight_tying: false, eva_config: null, exclude_modules: null, fan_in_fan_out: false,
  inference_mode: true, init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null,
  loftq_config: {}, lora_alpha: 16, lora_bias: false, lora_dropout: 0.05, lora_ga_config: null, megatron_config: null,
  megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA', peft_version: '0.19.1', qalora_group_size: 16, r: 8,
  rank_pattern: {}, revision: null, target_modules: ['down_proj', 'up_proj', 'key_value', 'query', 'gate_proj', 'dense'],
  target_parameters: null, task_type: 'CAUSAL_LM', trainable_token_indices: null, use_bdlora: null, use_dora: false,
  use_qalora: false, use_rslora: false,
};

let n = 0;
function adapterDir(config: Record<string, unknown>): string {
  const dir = join(tmp.dir, `adapter-${n++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config));
  return dir;
}

describe('readAdapterConfig', () => {
  it('reads a recent PEFT adapter_config.json with every option at its default', () => {
    const cfg = readAdapterConfig(adapterDir(PEFT_0191));
    expect(cfg).toEqual({
      r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: PEFT_0191.target_modules, base_model_name_or_path: 'Tele-AI/TeleChat2-7B',
      fan_in_fan_out: false, revision: null,
    });
    // an option a later PEFT may add is fine while it is off (a name Object.prototype has included)
    expect(readAdapterConfig(adapterDir({ ...PEFT_0191, some_future_option: null, another: false, more: [], toString: null })).r).toBe(8);
    // PEFT writes null for an empty-object default too
    expect(readAdapterConfig(adapterDir({ ...PEFT_0191, loftq_config: null, rank_pattern: null })).r).toBe(8);
    // how A and B were first drawn, when that left the base weights as they were (the file holds A and B as trained)
    for (const init of [false, 'gaussian']) expect(readAdapterConfig(adapterDir({ ...PEFT_0191, init_lora_weights: init })).r).toBe(8);
    // "all-linear" alone, as PEFT takes it
    expect(readAdapterConfig(adapterDir({ ...PEFT_0191, target_modules: 'all-linear' })).target_modules).toEqual(['all-linear']);
  });

  it('knows every key of the PEFT 0.19.1 file: none is accepted only for being off', () => {
    // each key set to a value that is neither its default nor off is refused as a known PEFT option,
    // or read (r, alpha, dropout, targets, base, task, peft_type) or ignored as bookkeeping
    const bookkeeping = new Set(['auto_mapping', 'base_model_name_or_path', 'inference_mode', 'peft_version', 'qalora_group_size']);
    const read = new Set(['bias', 'fan_in_fan_out', 'lora_alpha', 'lora_dropout', 'peft_type', 'r', 'revision', 'target_modules', 'task_type']);
    for (const key of Object.keys(PEFT_0191)) {
      if (bookkeeping.has(key) || read.has(key)) continue;
      const dir = adapterDir({ ...PEFT_0191, [key]: 'on' });
      expect(() => readAdapterConfig(dir), key).toThrow(`PEFT option "${key}" = "on" is not supported`);
    }
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ['exclude_modules set', { exclude_modules: ['lm_head'] }, 'PEFT option "exclude_modules" = ["lm_head"] is not supported (only its default null)'],
    ['lora_bias on', { lora_bias: true }, 'PEFT option "lora_bias" = true is not supported'],
    ['QA-LoRA', { use_qalora: true }, 'PEFT option "use_qalora" = true is not supported'],
    ['EVA initialisation', { eva_config: { rho: 2 } }, 'PEFT option "eva_config" = {"rho":2} is not supported'],
    ['DoRA', { use_dora: true }, 'PEFT option "use_dora" = true is not supported'],
    ['an unknown option that is on', { some_future_option: 3 }, '"some_future_option" = 3 is not an adapter_config.json key telechat-train knows'],
    ['activated LoRA', { alora_invocation_tokens: [1, 2] }, 'PEFT option "alora_invocation_tokens" = [1,2] is not supported (only its default null)'],
    // a LoraConfig field PEFT 0.21 added, beyond the 0.19.1 file above
    ['KaSA', { kasa_config: { k: 1 } }, 'PEFT option "kasa_config" = {"k":1} is not supported (only its default null)'],
    ['an empty layer list (no layer, to PEFT)', { layers_to_transform: [] }, 'PEFT option "layers_to_transform" = [] is not supported'],
    ['a target_modules regular expression', { target_modules: '.*\\.(query|dense)' }, 'key "target_modules" is the regular expression ".*\\\\.(query|dense)"; telechat-train reads a list of module names (or "all-linear")'],
    ['a PiSSA adapter (its base weights were rewritten too)', { init_lora_weights: 'pissa_niter_16' }, 'PEFT option "init_lora_weights" = "pissa_niter_16" is not supported (only true, false or "gaussian": initialisations that leave the base weights as they were; PiSSA, OLoRA, CorDA and LoftQ rewrite them, so the adapter belongs to another base)'],
    ['another task', { task_type: 'SEQ_CLS' }, 'key "task_type" must be "CAUSAL_LM"'],
    ['a fan_in_fan_out that is not a boolean', { fan_in_fan_out: 'yes' }, 'key "fan_in_fan_out" must be true or false, got "yes"'],
  ];
  it('warns where fan_in_fan_out contradicts the layer type (PEFT overrides it) and where a Hub revision is named', () => {
    const dir = adapterDir(PEFT_0191);
    const file = join(dir, 'adapter_config.json');
    expect(adapterConfigWarnings(dir, readAdapterConfig(dir), false, '/m')).toEqual([]);
    expect(adapterConfigWarnings(dir, { ...readAdapterConfig(dir), fan_in_fan_out: null }, true, '/m')).toEqual([]);
    expect(adapterConfigWarnings(dir, readAdapterConfig(dir), true, '/m')).toEqual([
      `${file}: fan_in_fan_out is false, but the base's target modules are Conv1D; read as true, as PEFT does`,
    ]);
    const pinned = adapterDir({ ...PEFT_0191, fan_in_fan_out: true, revision: 'main' });
    expect(adapterConfigWarnings(pinned, readAdapterConfig(pinned), true, '/m')).toEqual([
      `${join(pinned, 'adapter_config.json')}: revision "main" has no effect: the base is the local dir /m`,
    ]);
  });

  it('refuses a file that is JSON but not an object, naming the file', () => {
    for (const [text, got] of [['null', 'null'], ['[]', 'an array'], ['42', 'a number'], ['"LORA"', 'a string']]) {
      const dir = join(tmp.dir, `adapter-${n++}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'adapter_config.json'), text);
      expect(() => readAdapterConfig(dir), text).toThrow(`${join(dir, 'adapter_config.json')}: not a JSON object (PEFT's LoraConfig as {"peft_type": "LORA", "r": ..., ...}), got ${got}`);
    }
  });

  for (const [what, change, message] of refused) {
    it(`refuses ${what}, naming the key`, () => {
      const dir = adapterDir({ ...PEFT_0191, ...change });
      expect(() => readAdapterConfig(dir)).toThrow(`${join(dir, 'adapter_config.json')}: ${message}`);
    });
  }
});
