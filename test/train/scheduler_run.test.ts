// DeepSpeed's OneCycle and torch.optim.lr_scheduler classes (StepLR, OneCycleLR) in a real run: their lr reaches every
// update (metrics.jsonl lr = the schedule's), and with cycle_momentum OneCycle's betas replace the
// optimizer's. Shown exactly: a cycle
// whose beta1 bounds are both 0.9 trains bit for bit like cycle_momentum false with optimizer
// betas (0.9, 0.99) (OneCycle's beta2), and unlike the same run with betas (0.9, 0.95).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SchedulerConfig } from '../../src/config/types.js';
import { lrForUpdate } from '../../src/train/schedules.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('one-cycle');
afterAll(() => tmp.cleanup());

const CYCLE = { cycle_min_lr: 1e-4, cycle_max_lr: 2e-3, cycle_first_step_size: 2, cycle_second_step_size: 3, cycle_min_mom: 0.9, cycle_max_mom: 0.9 };

function run(name: string, momentum: boolean, betas: [number, number], scheduler: object = { type: 'OneCycle', params: { ...CYCLE, cycle_momentum: momentum } }): Array<{ loss: number; lr: number }> {
  const out = join(tmp.dir, name);
  const r = spawnSync(process.execPath, [resolve('dist/cli/train.js'), '--config', resolve('configs/zero3.json'), '--output-dir', out, '--max-steps', '6',
    '--set', `scheduler=${JSON.stringify(scheduler)}`, '--set', `optimizer.params.betas=${JSON.stringify(betas)}`],
  { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number; lr: number });
}

describe('OneCycle in training', () => {
  it('its lr is every update\'s, and its betas are the optimizer\'s when cycle_momentum is on', () => {
    const cycling = run('cycling', true, [0.5, 0.5]); // the configured betas are replaced
    const same = run('same-betas', false, [0.9, 0.99]);
    const other = run('other-beta2', false, [0.9, 0.95]);
    const schedule = { type: 'OneCycle', params: { ...CYCLE, decay_lr_rate: 0, decay_step_size: 0, cycle_momentum: true, decay_mom_rate: 0, last_batch_iteration: -1 } } as SchedulerConfig;
    expect(cycling.map((m) => m.lr)).toEqual(cycling.map((_, k) => lrForUpdate(schedule, 0, k)));
    expect(cycling.map((m) => m.loss)).toEqual(same.map((m) => m.loss));
    expect(other.slice(2).map((m) => m.loss)).not.toEqual(same.slice(2).map((m) => m.loss));
  }, 120_000);

  it('a torch StepLR: the optimizer lr times gamma every step_size updates', () => {
    const step = { type: 'StepLR', params: { step_size: 2, gamma: 0.5 } };
    const lrs = run('step-lr', false, [0.9, 0.95], step).map((m) => m.lr);
    expect(lrs).toEqual(lrs.map((_, k) => lrForUpdate(step as SchedulerConfig, 1e-3, k)));
    expect(lrs).toEqual([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4]); // configs/zero3.json's lr 1e-3, halved exactly
  }, 60_000);

  it('a torch OneCycleLR: its lr is every update\'s, and with cycle_momentum its momentum is beta1 while beta2 stays the optimizer\'s', () => {
    const oneCycle = (momentum: boolean) => ({ type: 'OneCycleLR', params: { max_lr: 2e-3, total_steps: 6, cycle_momentum: momentum, base_momentum: 0.9, max_momentum: 0.9 } });
    const cycling = run('one-cycle-lr', true, [0.5, 0.99], oneCycle(true)); // beta1 0.5 replaced by 0.9
    const same = run('one-cycle-lr-same', false, [0.9, 0.99], oneCycle(false));
    const resolved = { type: 'OneCycleLR', params: { max_lr: 2e-3, total_steps: 6, pct_start: 0.3, anneal_strategy: 'cos', cycle_momentum: true, base_momentum: 0.9,
      max_momentum: 0.9, div_factor: 25, final_div_factor: 1e4, three_phase: false, beta2: 0.99 } } as SchedulerConfig;
    expect(cycling.map((m) => m.lr)).toEqual(cycling.map((_, k) => lrForUpdate(resolved, 1e-3, k)));
    expect(Math.abs(cycling[0]!.lr - 2e-3 / 25) / (2e-3 / 25)).toBeLessThan(1e-15); // torch's initial lr (cos anneal at 0), not the optimizer's 1e-3
    expect(cycling.map((m) => m.loss)).toEqual(same.map((m) => m.loss));
  }, 120_000);
});
