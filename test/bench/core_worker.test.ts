// bench:core's worker (src/bench/core_worker.ts) reports the peak RSS of the forward+backward steps
// alone: the sgemm yardstick it measures afterwards allocates three fresh 2048 x 2048 fp32 matrices
// (48 MB; measured 667.8 MB before it, 715.9 MB after), which the PyTorch side has no counterpart
// of, so a peak taken after it charged our side 7% that is not the step's.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('bench:core worker', () => {
  it('peak RSS is the steps\', taken before the sgemm yardstick', () => {
    // one timed iteration after the warm-up: about 10 s on 2 threads
    const res = spawnSync(process.execPath, [join(ROOT, 'dist/bench/core_worker.js'), '1'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2' },
    });
    expect(res.status, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { peak_rss_mb: number; peak_rss_with_sgemm_mb: number };
    // the yardstick's matrices land on top of the step's peak: at least one 16 MB matrix of difference
    expect(out.peak_rss_with_sgemm_mb - out.peak_rss_mb).toBeGreaterThan(16);
  });
});
