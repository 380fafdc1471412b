// telechat-train from the command line, as the README runs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadHfSpec } from '../../src/checkpoint/hf.js';
import { makeTmpDir } from '../helpers/tmp.js';

const CLI = resolve('dist/cli/train.js');
const tmp = makeTmpDir('train-cli');
afterAll(() => tmp.cleanup());

function run(args: string[], cwd = tmp.dir) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' } });
}

describe('telechat-train command line', () => {
  it('README main command: trains the shipped tiny model on the shipped data; loss falls; final/ is an HF dir', () => {
    const res = run(['--config', resolve('configs/zero3.json')]);
    expect(res.status, res.stderr).toBe(0);
    const out = join(tmp.dir, 'output', 'zero3');
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(metrics.length).toBe(40);
    const losses = metrics.map((m) => m.loss as number);
    const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
    const last = (losses[37]! + losses[38]! + losses[39]!) / 3;
    expect(last).toBeLessThan(first - 0.5);
    for (const key of ['step', 'epoch', 'loss', 'lr', 'grad_norm', 'loss_scale', 'tokens', 'loss_tokens', 'step_time_s', 'tokens_per_s', 'mfu', 'mem']) {
      expect(metrics[0], key).toHaveProperty(key);
    }
    expect(Object.keys(metrics[0]!.mem as object).sort()).toEqual(['activations', 'buffers', 'grads', 'master', 'optim', 'params']);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.model', 'tokenizer_config.json', 'model.safetensors']) {
      expect(existsSync(join(out, 'final', f)), f).toBe(true);
    }
    expect(loadHfSpec(join(out, 'final')).layout).toBe('telechat');
    expect(existsSync(join(out, 'resolved-config.json'))).toBe(true);
    // checkpoints every 20 steps (configs/zero3.json), the newest named by latest
    for (const c of ['checkpoint-000020', 'checkpoint-000040']) {
      for (const f of ['trainer_state.json', 'zero/layout.json', 'zero/rank-00000.safetensors', 'hf/model.safetensors']) expect(existsSync(join(out, c, f)), `${c}/${f}`).toBe(true);
    }
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoint-000040');
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toMatch(/done: 40 steps/);
    // a second run into the same dir refuses to overwrite it
    const again = run(['--config', resolve('configs/zero3.json')]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds a run .*--resume auto.*--overwrite/);
  });

  it('--dry-run resolves everything, prints the plan, writes no output', () => {
    const res = run(['--config', resolve('configs/zero2.json'), '--output-dir', 'dry', '--dry-run']);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/"train_batch_size": 4/);
    // the capacity plan of telechat-plan (src/plan), for this world size and device
    expect(res.stdout).toMatch(/ZeRO stage 2, fp32 \(gradients fp32\)/);
    expect(res.stdout).toMatch(/memory per rank:\n\s+params\s+[\d.]+ MiB/);
    expect(res.stdout).toMatch(/verdict: fits/);
    expect(existsSync(join(tmp.dir, 'dry'))).toBe(false);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['missing model dir', ['--model', '/nonexistent/model'], /--model: \/nonexistent\/model does not exist/],
    ['missing data', ['--data', '/nonexistent/data.jsonl'], /--data: \/nonexistent\/data.jsonl does not exist/],
    ['unknown config key', ['--set', 'zero_optimization.stage3_prefetch_bucket_sz=5'], /unknown key "zero_optimization.stage3_prefetch_bucket_sz".*stage3_prefetch_bucket_size/],
    ['model config without random init', ['--model-config', 'data/tiny-model/config.json'], /pass --init random/],
    // this machine has no GPU (and CI builds with nvcc); configs/zero1.json trains in fp32
    ['cuda without a GPU', ['--device', 'cuda'], /--device cuda: (no GPU is visible|this build has no CUDA backend)/],
  ];
  it.each(bad)('clear error, exit 1, no stack trace: %s', (_what, args, message) => {
    const res = spawnSync(process.execPath, [CLI, '--config', resolve('configs/zero1.json'), '--output-dir', join(tmp.dir, 'bad'), ...args], { cwd: resolve('.'), encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp.dir, 'bad', 'metrics.jsonl'))).toBe(false);
  });

  it('--help lists the options with examples', () => {
    const res = run(['--help']);
    expect(res.status).toBe(0);
    for (const flag of ['--config', '--model', '--init', '--model-config', '--data', '--output-dir', '--max-steps', '--epochs', '--seed', '--resume', '--overwrite', '--device', '--set', '--dry-run', '--verbose']) {
      expect(res.stdout).toContain(flag);
    }
    expect(res.stdout).toMatch(/Examples:/);
  });
});
