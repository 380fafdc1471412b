// A resume that changes course. From a checkpoint older than `latest` (to retry the later steps,
// say with another learning rate): `latest` then names the resumed checkpoint, so a crash before
// the next save continues the new steps on `--resume auto`, not the abandoned ones (which would
// also have passed for the run's finished end). With another precision: fp16's loss scaler is
// fp16's own state; an fp32 or bf16 checkpoint has none to give it, and an fp32 or bf16 run must
// not inherit an fp16 run's scale.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';
import { LAUNCH_CLI, TRAIN_CLI } from '../helpers/train_fixture.js';

const tmp = makeTmpDir('resume-changes');
afterAll(() => tmp.cleanup());
let port = 31900 + Math.floor(Math.random() * 300);
// the shipped tiny model and sample data; a checkpoint every 2 steps, none pruned
const COMMON = ['--config', resolve('configs/zero3.json'), '--set', 'training.save_steps=2', '--set', 'training.save_total_limit=null'];

/** telechat-train on 2 ranks through telechat-launch. */
function train(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(port++), '--', process.execPath, TRAIN_CLI, ...COMMON, ...args],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', ...env } });
}
type Step = { step: number; loss: number; lr: number; grad_norm: number; loss_scale: number };
const metrics = (dir: string): Step[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Step);
const key = (m: Step) => [m.step, m.loss, m.lr, m.grad_norm, m.loss_scale];

describe('a resume that changes course', () => {
  it('from an earlier checkpoint: latest names it, so a crash before the next save resumes the new steps (fp32, bitwise)', () => {
    const first = join(tmp.dir, 'first');
    expect(train(['--output-dir', first, '--max-steps', '6']).status).toBe(0); // checkpoints 2, 4, 6, final/
    const retry = ['--max-steps', '6', '--resume', join('RUN', 'checkpoint-000002'), '--set', 'optimizer.params.lr=2e-4'];
    const at = (dir: string) => retry.map((a) => a.replace('RUN', dir));
    // the reference: the retry from step 2 uninterrupted
    const whole = join(tmp.dir, 'whole');
    cpSync(first, whole, { recursive: true });
    const w = train(['--output-dir', whole, ...at(whole)]);
    expect(w.status, w.stderr).toBe(0);
    // the same retry killed after step 3, before any save of its own
    const split = join(tmp.dir, 'split');
    cpSync(first, split, { recursive: true });
    expect(train(['--output-dir', split, ...at(split)], { TELECHAT_FAULT_AT: 'step:3' }).status).not.toBe(0);
    expect(readFileSync(join(split, 'latest'), 'utf8').trim()).toBe('checkpoint-000002');
    const auto = train(['--output-dir', split, '--max-steps', '6', '--resume', 'auto', '--set', 'optimizer.params.lr=2e-4']);
    expect(auto.status, auto.stderr).toBe(0);
    expect(auto.stdout).toContain(`resuming from ${join(split, 'checkpoint-000002')} at step 2`);
    expect(metrics(split).map(key)).toEqual(metrics(whole).map(key));
    expect(metrics(split).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(metrics(split)[2]!.lr).not.toBe(metrics(first)[2]!.lr); // the retry's lr, not the first run's
    expect(readFileSync(join(split, 'final', 'model.safetensors')).equals(readFileSync(join(whole, 'final', 'model.safetensors')))).toBe(true);
  }, 120_000);

  it('on another world size whose batch split changes the global batch: the refusal says which --set keeps it, and that resumes', () => {
    // configs/zero3.json sets micro-batch 2 and accumulation 2, no train_batch_size: 8 rows on 2 ranks, 4 on one
    const out = join(tmp.dir, 'split-change');
    expect(train(['--output-dir', out, '--max-steps', '2']).status).toBe(0);
    const one = (args: string[]) => spawnSync(process.execPath, [TRAIN_CLI, ...COMMON, '--output-dir', out, '--max-steps', '3', '--resume', 'auto', ...args],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const refused = one([]);
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim()).toBe(`telechat-train: ${join(out, 'checkpoint-000002')}: cannot resume a different run: global batch 8 -> 4 ` +
      '(micro-batch 2 x accumulation 2 x 1 rank(s); to keep 8 rows per step on 1 rank(s): --set train_batch_size=8 --set gradient_accumulation_steps=4)');
    const kept = one(['--set', 'train_batch_size=8', '--set', 'gradient_accumulation_steps=4']);
    expect(kept.status, kept.stderr).toBe(0);
    expect(metrics(out).map((m) => m.step)).toEqual([1, 2, 3]);
  }, 120_000);

  it('another precision: fp16 from an fp32 checkpoint starts its loss scaler fresh; fp32 from an fp16 one has none', () => {
    const fp32 = join(tmp.dir, 'fp32');
    expect(train(['--output-dir', fp32, '--max-steps', '2']).status).toBe(0);
    const toFp16 = train(['--output-dir', fp32, '--max-steps', '4', '--resume', 'auto', '--set', 'fp16.enabled=true']);
    expect(toFp16.status, toFp16.stderr).toBe(0);
    // fp16's default dynamic scaler starts at 2^initial_scale_power = 2^16, as a fresh fp16 run does
    const fresh16 = join(tmp.dir, 'fresh16');
    expect(train(['--output-dir', fresh16, '--max-steps', '1', '--set', 'fp16.enabled=true']).status).toBe(0);
    expect(metrics(fresh16)[0]!.loss_scale).toBe(2 ** 16);
    expect(metrics(fp32).map((m) => m.loss_scale)).toEqual([1, 1, 2 ** 16, 2 ** 16]);
    expect(toFp16.stdout).toContain('the checkpoint was saved in fp32 and this run trains in fp16: the fp16 loss scaler starts fresh (scale 65536)');

    const fp16 = join(tmp.dir, 'fp16');
    expect(train(['--output-dir', fp16, '--max-steps', '2', '--set', 'fp16.enabled=true']).status).toBe(0);
    const toFp32 = train(['--output-dir', fp16, '--max-steps', '4', '--resume', 'auto']);
    expect(toFp32.status, toFp32.stderr).toBe(0);
    expect(metrics(fp16).map((m) => m.loss_scale)).toEqual([2 ** 16, 2 ** 16, 1, 1]);
    expect(toFp32.stdout).toContain('the checkpoint was saved in fp16 and this run trains in fp32: no loss scaling (the checkpoint\'s scale 65536 is dropped)');
  }, 120_000);
});
