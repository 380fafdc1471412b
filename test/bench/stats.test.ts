// Medians of bench timings (src/bench/stats.ts) and their use by bench:train's worker for the
// evaluation-cost ratio: the step time is the median of the steps after the warm-up step, the
// evaluation time the median of evaluations after an untimed warm-up one. Before, both were the
// upper middle of every call including the first, so with 4 steps the step time was the slowest
// of them whenever the warm-up step was slow (a run here: 2.59 s, the warm-up's, against a
// steady 1.96 s), which shrank the evaluation / step ratio held against its <= 0.4 target.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { median, medianAfterWarmup } from '../../src/bench/stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('bench medians', () => {
  it('median: the middle value, the mean of the two middle ones for an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median of no values');
  });

  it('medianAfterWarmup leaves out the first (warm-up) value', () => {
    // a slow warm-up is not the step time: the steady steps' median is
    expect(medianAfterWarmup([9, 2, 1, 3])).toBe(2);
    expect(medianAfterWarmup([9, 2, 4])).toBe(3);
    expect(() => medianAfterWarmup([9])).toThrow('needs at least 2 steps, got 1');
  });

  it('bench:train worker: the eval-cost step and evaluation times are medians after their warm-ups', () => {
    // 3 steps and 2 timed evaluations of the bench model: about 10 s on 2 threads
    const res = spawnSync(process.execPath, [join(ROOT, 'dist/bench/train_worker.js'), 'fp32', '3', '2'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as {
      step_s_in_process: number; step_s_samples_in_process: number[]; eval_s_in_process: number; eval_s_samples_in_process: number[];
    };
    expect(out.step_s_samples_in_process).toHaveLength(3);
    expect(out.step_s_in_process).toBe(median(out.step_s_samples_in_process.slice(1)));
    // the warm-up evaluation is not among the timed ones
    expect(out.eval_s_samples_in_process).toHaveLength(2);
    expect(out.eval_s_in_process).toBe(median(out.eval_s_samples_in_process));
  });

  it('bench:train worker: an eval-cost run of one step is refused (no step after the warm-up to compare with)', () => {
    const res = spawnSync(process.execPath, [join(ROOT, 'dist/bench/train_worker.js'), 'fp32', '1', '2'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('EVAL_STEPS needs STEPS >= 2');
  });
});
