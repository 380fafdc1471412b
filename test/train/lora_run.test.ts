// planLora with an init_adapter: r, lora_alpha and targets must match (errors, tested end to end in
// lora_train.test.ts); a different lora_dropout recorded in the adapter is the run's to choose,
// with a warning (prepareRun plans the adapters, so --dry-run shows it: lora_train.test.ts), as is
// a fan_in_fan_out that contradicts the layer type.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { parseModelSpec } from '../../src/model/spec.js';
import { planLora } from '../../src/train/lora_run.js';
import { TINY_MODEL } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-run');
afterAll(() => tmp.cleanup());

it('an init_adapter whose lora_dropout differs from lora.dropout: the section\'s is used, with a warning; none when the file records none', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const adapterWith = (name: string, config: Record<string, unknown>): string => {
    const dir = join(tmp.dir, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['query'], ...config }));
    return dir;
  };
  const adapter = adapterWith('with-dropout', { lora_dropout: 0.1 });
  const section = { r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: adapter };
  const warnings: string[] = [];
  const run = planLora(section, spec, tmp.dir, 'random', warnings);
  expect(run.model.dropout).toBe(0);
  expect(warnings).toEqual([`lora.init_adapter ${adapter}: its lora_dropout 0.1 is not used; this run trains with lora.dropout = 0`]);
  const same: string[] = [];
  planLora({ ...section, dropout: 0.1 }, spec, tmp.dir, 'random', same);
  expect(same).toEqual([]);
  // an adapter_config.json without lora_dropout records nothing to disagree with
  const silent: string[] = [];
  planLora({ ...section, dropout: 0.1, init_adapter: adapterWith('no-dropout', {}) }, spec, tmp.dir, 'random', silent);
  expect(silent).toEqual([]);
});

it('an init_adapter whose fan_in_fan_out contradicts the layer type is read as PEFT reads it, with a warning', () => {
  const spec = parseModelSpec({ ...TINY_MODEL, model_type: 'telechat' });
  const dir = join(tmp.dir, 'fan-in-fan-out');
  mkdirSync(dir);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['query'], fan_in_fan_out: true }));
  const warnings: string[] = [];
  planLora({ r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: dir }, spec, tmp.dir, 'random', warnings);
  expect(warnings).toEqual([`${join(dir, 'adapter_config.json')}: fan_in_fan_out is true, but the base's target modules are nn.Linear; read as false, as PEFT does`]);
});
