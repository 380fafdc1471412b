// planLora with an init_adapter: r, lora_alpha and targets must match (errors, tested end to end in
// lora_train.test.ts); a different lora_dropout is the run's to choose, and the trainer warns.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { BENCH_CONFIG } from '../../src/bench/core_config.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { planLora } from '../../src/train/lora_run.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-run');
afterAll(() => tmp.cleanup());

it('an init_adapter whose lora_dropout differs from lora.dropout: the section\'s is used, with a warning', () => {
  const spec = parseModelSpec(BENCH_CONFIG);
  const adapter = join(tmp.dir, 'adapter');
  mkdirSync(adapter);
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, lora_dropout: 0.1, target_modules: ['query'] }));
  const section = { r: 8, alpha: 16, dropout: 0, target_modules: ['query'], init_adapter: adapter };
  const run = planLora(section, spec, tmp.dir, 'random');
  expect(run.model.dropout).toBe(0);
  expect(run.warnings).toEqual([`lora.init_adapter ${adapter}: its lora_dropout 0.1 is not used; this run trains with lora.dropout = 0`]);
  expect(planLora({ ...section, dropout: 0.1 }, spec, tmp.dir, 'random').warnings).toEqual([]);
});
