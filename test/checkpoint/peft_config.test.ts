// adapter_config.json as PEFT writes it: every key a recent PEFT saves, at its default, is read;
// an option we do not implement, set, is refused by name; so is an unknown key that is on.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAdapterConfig } from '../../src/checkpoint/peft.js';
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
    });
    // an option a later PEFT may add is fine while it is off
    expect(readAdapterConfig(adapterDir({ ...PEFT_0191, some_future_option: null, another: false, more: [] })).r).toBe(8);
  });

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ['exclude_modules set', { exclude_modules: ['lm_head'] }, 'PEFT option "exclude_modules" = ["lm_head"] is not supported (only its default null)'],
    ['lora_bias on', { lora_bias: true }, 'PEFT option "lora_bias" = true is not supported'],
    ['QA-LoRA', { use_qalora: true }, 'PEFT option "use_qalora" = true is not supported'],
    ['EVA initialisation', { eva_config: { rho: 2 } }, 'PEFT option "eva_config" = {"rho":2} is not supported'],
    ['DoRA', { use_dora: true }, 'PEFT option "use_dora" = true is not supported'],
    ['an unknown option that is on', { some_future_option: 3 }, '"some_future_option" = 3 is not an adapter_config.json key telechat-train knows'],
    ['another task', { task_type: 'SEQ_CLS' }, 'key "task_type" must be "CAUSAL_LM"'],
  ];
  for (const [what, change, message] of refused) {
    it(`refuses ${what}, naming the key`, () => {
      const dir = adapterDir({ ...PEFT_0191, ...change });
      expect(() => readAdapterConfig(dir)).toThrow(`${join(dir, 'adapter_config.json')}: ${message}`);
    });
  }
});
