// A resume continues the checkpoint's run: its seed (data order, dropout masks, random base)
// comes from trainer_state.json, whatever --seed says now (said in a warning); a learning-rate
// schedule other than the one its steps followed is said in a warning too; and a damaged
// trainer_state.json is named with the key at fault instead of failing later on a TypeError.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('resume-seed');
afterAll(() => tmp.cleanup());
const CLI = resolve('dist/cli/train.js');
// dropout on, so the seed also keys masks; a checkpoint every 2 steps
const COMMON = ['--config', resolve('configs/zero3.json'), '--set', 'training.save_steps=2', '--set', 'training.save_total_limit=null', '--set', 'model.hidden_dropout=0.1'];

function train(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...COMMON, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
  return r;
}
const losses = (dir: string): number[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);

describe('resume and the seed', () => {
  it('a resume with another --seed continues with the checkpoint\'s seed, said, and equals the uninterrupted run', () => {
    const whole = join(tmp.dir, 'whole');
    expect(train(['--output-dir', whole, '--max-steps', '4']).status).toBe(0);
    const split = join(tmp.dir, 'split');
    expect(train(['--output-dir', split, '--max-steps', '2']).status).toBe(0);
    const resumed = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--seed', '7']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('warning: "training.seed" 7 is not the resumed run\'s; it continues with the checkpoint\'s seed 42');
    expect(readFileSync(join(split, 'train.log'), 'utf8')).toContain('continues with the checkpoint\'s seed 42');
    expect(losses(split)).toEqual(losses(whole));
    const state = JSON.parse(readFileSync(join(split, 'checkpoint-000004', 'trainer_state.json'), 'utf8')) as { seed: number };
    expect(state.seed).toBe(42);
  }, 120_000);

  it('a resume on another learning-rate schedule says what changed (the run length a total not given stands for, the lr); the same schedule says nothing', () => {
    const split = join(tmp.dir, 'schedule');
    expect(train(['--output-dir', split, '--max-steps', '2']).status).toBe(0);
    const dir = join(split, 'checkpoint-000002');
    expect((JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8')) as { lr_schedule: unknown }).lr_schedule).toEqual({
      lr: 0.001, scheduler: { type: 'cosine', params: { warmup_ratio: 0.1, warmup_num_steps: 1, total_num_steps: 2, num_cycles: 0.5 } },
    });
    const longer = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--dry-run']);
    expect(longer.status, longer.stderr).toBe(0);
    expect(longer.stdout).toContain(`warning: --resume ${dir}: the learning-rate schedule is not the one its 2 step(s) followed: scheduler.params.total_num_steps 2 -> 4; ` +
      'steps 3 on follow the new one (scheduler.params.total_num_steps follows the run length, which --max-steps or the epochs set: give it in the config to keep one schedule across resumes)');
    const lr = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--dry-run', '--set', 'scheduler.params.total_num_steps=2', '--set', 'optimizer.params.lr=0.002']);
    expect(lr.stdout).toContain(`warning: --resume ${dir}: the learning-rate schedule is not the one its 2 step(s) followed: optimizer.params.lr 0.001 -> 0.002; steps 3 on follow the new one\n`);
    const same = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--dry-run', '--set', 'scheduler.params.total_num_steps=2']);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stdout).not.toContain('learning-rate schedule');
    // a total given and changed is named without the run-length hint
    const given = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--dry-run', '--set', 'scheduler.params.total_num_steps=3']);
    expect(given.stdout).toContain(`warning: --resume ${dir}: the learning-rate schedule is not the one its 2 step(s) followed: scheduler.params.total_num_steps 2 -> 3; steps 3 on follow the new one\n`);
    // under a schedule that sets the lr itself, the optimizer's lr is no change to name
    const cyclic = { type: 'OneCycleLR', params: { max_lr: 0.01, total_steps: 4 } };
    const own = join(tmp.dir, 'own-lr');
    expect(train(['--output-dir', own, '--max-steps', '2', '--set', `scheduler=${JSON.stringify(cyclic)}`]).status).toBe(0);
    const lrOnly = train(['--output-dir', own, '--max-steps', '4', '--resume', 'auto', '--dry-run', '--set', `scheduler=${JSON.stringify(cyclic)}`, '--set', 'optimizer.params.lr=0.5']);
    expect(lrOnly.status, lrOnly.stderr).toBe(0);
    expect(lrOnly.stdout).not.toContain('learning-rate schedule');
    // a damaged record is named
    const statePath = join(dir, 'trainer_state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
    writeFileSync(statePath, JSON.stringify({ ...state, lr_schedule: {} }));
    const damaged = train(['--output-dir', split, '--max-steps', '4', '--resume', 'auto', '--dry-run']);
    expect(damaged.status).toBe(1);
    expect(damaged.stderr.trim()).toBe(`telechat-train: ${statePath}: "lr_schedule" must be {"lr": number, "scheduler": {"type": ..., "params": {...}}}, got {}`);
  }, 60_000);

  it('a trainer_state.json without a key it needs is named with that key', () => {
    const split = join(tmp.dir, 'damaged');
    expect(train(['--output-dir', split, '--max-steps', '4']).status).toBe(0);
    const path = join(split, 'checkpoint-000004', 'trainer_state.json');
    const state = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    delete state.scheduler;
    writeFileSync(path, JSON.stringify(state));
    const r = train(['--output-dir', split, '--max-steps', '6', '--resume', 'auto', '--dry-run']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`telechat-train: ${path}: missing key "scheduler"`);
    writeFileSync(path, JSON.stringify({ ...state, scheduler: {}, step: 'four' }));
    expect(train(['--output-dir', split, '--max-steps', '6', '--resume', 'auto', '--dry-run']).stderr.trim()).toBe(`telechat-train: ${path}: "step" must be a number, got "four"`);
  }, 60_000);
});
