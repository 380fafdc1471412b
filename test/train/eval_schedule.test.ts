// The evaluation schedule as telechat-train states it (--dry-run, fast): eval_steps 0 means
// "only after the last step", and training.early_stopping_patience that no schedule can act on
// (fewer evaluations before the last step than the patience) is a warning naming the key and
// why, never accepted in silence (DESIGN.md "Config keys").
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDataset } from '../../src/data/builder.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { runAsync, TINY_MODEL, TRAIN_CLI, zeroConfig } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('eval-schedule');
let data: string;
let modelConfig: string;

beforeAll(async () => {
  const model = join(tmp.dir, 'model');
  mkdirSync(model);
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(model, f));
  modelConfig = join(model, 'config.json');
  writeFileSync(modelConfig, JSON.stringify(TINY_MODEL));
  data = join(tmp.dir, 'ds');
  await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: 'data/tiny-model', output: data, maxSeqLen: 96, template: 'telechat2', seed: 1, valSize: 20 });
}, 60_000);
afterAll(() => tmp.cleanup());

/** telechat-train --dry-run of a 10-step run over the dataset with val/: its stdout and stderr. */
async function dryRun(training: Record<string, unknown>): Promise<string> {
  const cfg = join(tmp.dir, `cfg-${Math.random()}.json`);
  writeFileSync(cfg, JSON.stringify(zeroConfig(0, 6, 2, 10, {}, { save_steps: 5, ...training })));
  const res = await runAsync([TRAIN_CLI, '--config', cfg, '--init', 'random', '--model-config', modelConfig, '--data', data, '--output-dir', join(tmp.dir, 'out'), '--dry-run']);
  expect(res.status, res.stderr).toBe(0);
  return res.stdout + res.stderr;
}

describe('the evaluation schedule', () => {
  it('eval_steps 0 is said as "only after the last step", not "every 0 steps"', async () => {
    const said = await dryRun({ eval_steps: 0 });
    expect(said).toMatch(/^eval: \d+ rows .* from .*val, only after the last step$/m);
    expect(said).not.toMatch(/every 0 steps/);
    expect(await dryRun({ eval_steps: 3 })).toMatch(/^eval: .*, every 3 steps and after the last$/m);
  });

  it('early_stopping_patience with fewer evaluations before the last step than the patience is a warning naming the key', async () => {
    // eval_steps 0: the one evaluation comes after the last step
    expect(await dryRun({ eval_steps: 0, early_stopping_patience: 1 })).toMatch(
      /^warning: "training\.early_stopping_patience": 1 has no effect: the run evaluates 0 times before its last step \(10 steps, training\.eval_steps 0\), so it can never stop early$/m,
    );
    // the default eval_steps (save_steps 5): one evaluation (step 5) before step 10, patience 2
    expect(await dryRun({ early_stopping_patience: 2 })).toMatch(
      /^warning: "training\.early_stopping_patience": 2 has no effect: the run evaluates 1 time before its last step \(10 steps, training\.save_steps 5 as eval_steps\), so it can never stop early$/m,
    );
    // every 3 steps: 3 evaluations before step 10 can stop a run with patience 3, so no warning
    expect(await dryRun({ eval_steps: 3, early_stopping_patience: 3 })).not.toMatch(/^warning: .*early_stopping_patience/m);
  });
});
