// The command-line contract of telechat-train and telechat-launch as DESIGN.md and docs/config.md
// state it, checked by running the built CLIs: every documented key has its effect or is refused
// by name (acceptance audit findings, one test per finding).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { makeTmpDir } from '../helpers/tmp.js';

const TRAIN = resolve('dist/cli/train.js');
const LAUNCH = resolve('dist/cli/launch.js');
const tmp = makeTmpDir('cli-contract');
afterAll(() => tmp.cleanup());

function train(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [TRAIN, ...args], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', ...env } });
}

/** The dtypes of a safetensors file's tensors, and config.json's torch_dtype beside it. */
function savedDtypes(dir: string): { tensors: string[]; torchDtype: unknown } {
  const st = new SafetensorsReader(join(dir, 'model.safetensors'));
  try {
    const tensors = [...new Set([...st.tensors.values()].map((t) => t.dtype))];
    return { tensors, torchDtype: (JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>)['torch_dtype'] };
  } finally {
    st.close();
  }
}

// One step of the shipped tiny model on the shipped data, rows of 128 tokens.
const SHORT = ['--config', resolve('configs/zero2.json'), '--max-steps', '1', '--set', 'data.max_seq_len=128'];

describe('model.dtype', () => {
  it('is the dtype of the saved HF dirs (checkpoint-N/hf and final/), for a random init and for a pretrained base', () => {
    // random init: without model.dtype saved in the training dtype (fp32), with it in that dtype
    const plain = train([...SHORT, '--output-dir', 'plain']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(savedDtypes(join(tmp.dir, 'plain', 'final'))).toEqual({ tensors: ['F32'], torchDtype: 'float32' });
    const bf16 = train([...SHORT, '--output-dir', 'bf16', '--set', 'model.dtype=bf16']);
    expect(bf16.status, bf16.stderr).toBe(0);
    for (const dir of ['final', 'checkpoint-000001/hf']) {
      expect(savedDtypes(join(tmp.dir, 'bf16', dir)), dir).toEqual({ tensors: ['BF16'], torchDtype: 'bfloat16' });
    }
    // a pretrained base (fp32 here) is kept in its dtype unless model.dtype says otherwise
    const model = join(tmp.dir, 'plain', 'final');
    const fp16 = train([...SHORT, '--model', model, '--output-dir', 'fp16', '--set', 'model.dtype=fp16']);
    expect(fp16.status, fp16.stderr).toBe(0);
    expect(savedDtypes(join(tmp.dir, 'fp16', 'final'))).toEqual({ tensors: ['F16'], torchDtype: 'float16' });
  });
});

describe('training.log_file', () => {
  it('in a sub-dir of the output dir: the dir is made and the log written there', () => {
    const res = train([...SHORT, '--output-dir', 'sublog', '--set', 'training.log_file=logs/run.log']);
    expect(res.status, res.stderr).toBe(0);
    expect(readFileSync(join(tmp.dir, 'sublog', 'logs', 'run.log'), 'utf8')).toMatch(/done: 1 steps/);
    expect(existsSync(join(tmp.dir, 'sublog', 'train.log'))).toBe(false);
  });

  it('naming a file or dir the run writes itself (metrics.jsonl, checkpoint-N/, data/, ...) is refused before the output dir is made', () => {
    for (const [logFile, where] of [['metrics.jsonl', 'is metrics.jsonl'], ['final/train.log', 'is inside final'], ['data/x.log', 'is inside data']]) {
      const res = train([...SHORT, '--output-dir', 'runlog', '--set', `training.log_file=${logFile}`]);
      expect(res.status, logFile).toBe(1);
      expect(res.stderr.trim().split('\n').at(-1)).toBe(
        `telechat-train: training.log_file ${JSON.stringify(logFile)} ${where}, which the run writes itself: name another file (e.g. "train.log" or "logs/train.log")`);
      expect(existsSync(join(tmp.dir, 'runlog')), logFile).toBe(false);
    }
  });
});

describe('--dry-run under telechat-launch', () => {
  it('every rank validates for the launched world size, rank 0 alone prints (the resolved config once, not once per rank interleaved)', () => {
    const res = spawnSync(process.execPath, [LAUNCH, '--nproc-per-node', '2', '--', process.execPath, TRAIN, ...SHORT, '--output-dir', 'dry', '--dry-run'],
      { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).not.toContain('[rank 1]');
    expect(res.stdout.match(/^dry run: configuration, model and data are valid$/gm)).toHaveLength(1);
    const json = res.stdout.slice(res.stdout.indexOf('\n{\n') + 1, res.stdout.indexOf('\n}\n') + 2);
    const cfg = JSON.parse(json) as { run: { world_size: number }; train_batch_size: number };
    expect([cfg.run.world_size, cfg.train_batch_size]).toEqual([2, 8]); // micro 2 x accumulation 2 x 2 ranks
    expect(existsSync(join(tmp.dir, 'dry'))).toBe(false);
    // a rank's error still stops the launch with it
    const bad = spawnSync(process.execPath, [LAUNCH, '--nproc-per-node', '2', '--', process.execPath, TRAIN, ...SHORT, '--output-dir', 'dry', '--dry-run', '--set', 'zero_optimization.stage=7'],
      { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('telechat-train: --set zero_optimization.stage: key "zero_optimization.stage" expects an integer >= 0 and <= 3, got 7');
  });
});

describe('telechat-launch --grace-seconds', () => {
  it('a negative, non-finite or longer-than-a-timer value is refused by name (a negative one SIGKILLed at once)', () => {
    for (const bad of ['-1', '1e12']) {
      const res = spawnSync(process.execPath, [LAUNCH, '--grace-seconds', bad, '--', 'true'], { encoding: 'utf8' });
      expect(res.status, bad).toBe(1);
      expect(res.stderr.trim()).toBe(`telechat-launch: --grace-seconds must be a number from 0 to 2147483, got ${Number(bad)}`);
    }
    const inf = spawnSync(process.execPath, [LAUNCH, '--grace-seconds', 'Infinity', '--', 'true'], { encoding: 'utf8' });
    expect(inf.status).toBe(1);
    expect(inf.stderr.trim()).toBe('telechat-launch: --grace-seconds expects a decimal number, got "Infinity" (see --help)');
    expect(spawnSync(process.execPath, [LAUNCH, '--grace-seconds', '0', '--', 'true'], { encoding: 'utf8' }).status).toBe(0);
  });
});

describe('--resume given an output dir', () => {
  it('is refused naming the output dir\'s newest checkpoint and the two ways to resume it', () => {
    const first = train([...SHORT, '--output-dir', 'resumed']);
    expect(first.status, first.stderr).toBe(0);
    const res = train([...SHORT, '--output-dir', 'resumed', '--resume', 'resumed', '--dry-run']);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe(
      `telechat-train: --resume resumed: not a checkpoint directory (no trainer_state.json); it is an output dir, whose newest checkpoint is ${join('resumed', 'checkpoint-000001')}: ` +
        'pass that, or --resume auto with --output-dir resumed',
    );
  });
});
