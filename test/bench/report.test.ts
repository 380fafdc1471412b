// docs/benchmarks.md generation (src/bench/report.ts) and the `npm run bench` runner
// (src/bench/all.ts), on synthetic results in a temp dir: the doc's numbers are the files'
// numbers, every section carries date/machine/load/command, a known benchmark with no result
// is listed as not available, a broken result file is one clear error that names the file and
// key and leaves the old doc alone, and a benchmark that writes no result fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmpDir } from '../helpers/tmp.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPORT = join(ROOT, 'dist/bench/report.js');
const ALL = join(ROOT, 'dist/bench/all.js');

function trainResult(): Record<string, unknown> {
  const side = (tps: number, rss: number) => ({ step_s: 4096 / tps, tokens_per_s: tps, peak_rss_mb: rss, step_s_samples: [4096 / tps, 4096 / tps + 1], step_cpu_s: 8192 / tps });
  return {
    bench: 'train',
    date: '2026-11-27T08:00:00.000Z',
    command: 'BENCH_REPEATS=3 npm run bench:train',
    machine: { cpu: 'Test CPU 9000', cores: 2, threads: 2 },
    load_average_1m: { min: 1.5, median: 2, max: 2.5, at_end: 2 },
    timing: '(wall(2 steps) - wall(1 steps)) / 1 per process, median of 3 alternating rounds',
    ours_fp32: side(1024, 600),
    ours_bf16: side(512, 500),
    torch_fp32: side(512, 2000),
    ratios: { fp32_throughput_vs_torch: 2, bf16_throughput_vs_torch: 1, fp32_peak_rss_vs_torch: 0.3, bf16_peak_rss_vs_torch: 0.25, fp32_cpu_per_token_vs_torch: 2, bf16_cpu_per_token_vs_torch: 1 },
    profile: {
      fp32: { steps: 2, step_wall_s: 10, rows: [{ op: 'linearBackward', calls: 40, seconds: 6 }, { op: 'engine.adamw', calls: 2, seconds: 1 }] },
    },
  };
}

let tmp: { dir: string; cleanup: () => void };

beforeEach(() => {
  expect(existsSync(REPORT), 'run npm run build first').toBe(true);
  tmp = makeTmpDir('bench-report');
  mkdirSync(join(tmp.dir, 'bench-results'));
  mkdirSync(join(tmp.dir, 'docs'));
});
afterEach(() => tmp.cleanup());

function node(script: string) {
  return spawnSync(process.execPath, [script], { cwd: tmp.dir, encoding: 'utf8' });
}

describe('bench report', () => {
  it('renders each result with its provenance and lists missing benchmarks', () => {
    writeFileSync(join(tmp.dir, 'bench-results', 'train.json'), JSON.stringify(trainResult()));
    const res = node(REPORT);
    expect(res.status, res.stderr).toBe(0);
    const doc = readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8');
    expect(doc).toContain('- date: 2026-11-27 08:00:00 UTC');
    expect(doc).toContain('- machine: 2 x Test CPU 9000');
    expect(doc).toContain('- load average: 1-min 1.50-2.50 during the run');
    expect(doc).toContain('- command: `BENCH_REPEATS=3 npm run bench:train`');
    expect(doc).toContain('| telechat-train fp32 | 1024 | 4.00 | 4.00, 5.00 | 8.00 | 600 |');
    expect(doc).toContain('| CPU seconds per step (torch / ours) | x2.00 | x1.00 |  |');
    expect(doc).toContain('| throughput | x2.00 | x1.00 | >= 1.5 |');
    expect(doc).toContain('| peak RSS | x0.30 | x0.25 | <= 0.6 |');
    // profile rows are per step (2 steps) with their share of the 10 s of wall time
    expect(doc).toContain('| linearBackward | 20 | 3000.0 | 60.0% |');
    expect(doc).toContain('| engine.adamw | 1 | 500.0 | 10.0% |');
    expect(doc).toContain('| (not in a timed op: JS, batch upload) |  | 1500.0 | 30.0% |');
    for (const missing of ['core', 'comm', 'data', 'zero']) expect(doc).toContain(`no bench-results/${missing}.json`);
  });

  it('renders the collectives table, with page faults and CPU time per op when the result has them', () => {
    const row = { op: 'allReduce', ranks: 2, mb: 16, ours_s: 0.01, torch_s: 0.012, ours_busbw_gbps: 1.68, torch_busbw_gbps: 1.4, speed_vs_torch: 1.2 };
    const comm = (rows: Record<string, unknown>[]) => ({ bench: 'comm', date: '2026-11-27T08:00:00.000Z', machine: { cpu: 'Test CPU 9000', cores: 2 },
      load_average_1m: { min: 1, median: 2, max: 3, samples: [1, 2, 3] }, note: 'best of 2 launches', rows });
    writeFileSync(join(tmp.dir, 'bench-results', 'comm.json'), JSON.stringify(comm([
      { ...row, ours_minflt_per_op: 0.2, torch_minflt_per_op: 12.6, ours_cpu_ms_per_op: 7.25, torch_cpu_ms_per_op: 8 }])));
    expect(node(REPORT).status).toBe(0);
    let doc = readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8');
    expect(doc).toContain('- load average: 1-min 1.00-3.00 during the run');
    expect(doc).toContain('| op | ranks | MB | ours GB/s | torch GB/s | ratio | page faults/op ours / torch | CPU ms/op ours / torch |');
    expect(doc).toContain('| allReduce | 2 | 16 | 1.68 | 1.40 | 1.20 | 0 / 13 | 7.3 / 8.0 |');
    // results written before the diagnostics were recorded still render, without those columns
    writeFileSync(join(tmp.dir, 'bench-results', 'comm.json'), JSON.stringify(comm([row])));
    expect(node(REPORT).status).toBe(0);
    doc = readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8');
    expect(doc).toContain('| op | ranks | MB | ours GB/s | torch GB/s | ratio |\n');
    expect(doc).toContain('| allReduce | 2 | 16 | 1.68 | 1.40 | 1.20 |\n');
  });

  it('a result with a missing key is one error naming file and key; the old doc stays', () => {
    const bad = trainResult();
    delete (bad.ratios as Record<string, unknown>).bf16_throughput_vs_torch;
    writeFileSync(join(tmp.dir, 'bench-results', 'train.json'), JSON.stringify(bad));
    writeFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'old\n');
    const res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('bench:report: bench-results/train.json: missing key ratios.bf16_throughput_vs_torch');
    expect(readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8')).toBe('old\n');
  });
});

describe('npm run bench', () => {
  function packageWith(scripts: Record<string, string>): void {
    writeFileSync(join(tmp.dir, 'package.json'), JSON.stringify({ name: 'bench-test', private: true, scripts }));
  }
  const writes = (name: string, value: number) =>
    `node -e "require('fs').writeFileSync('bench-results/${name}.json', JSON.stringify({ tokens_per_s: ${value} }))"`;

  it('runs every bench:* script, records its command and load, and regenerates the doc', () => {
    packageWith({ 'bench:alpha': writes('alpha', 123), 'bench:report': 'exit 1' });
    const res = spawnSync(process.execPath, [ALL], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, BENCH_FOO: '7' } });
    expect(res.status, res.stderr).toBe(0);
    // the known benchmarks without a script are announced, not skipped silently
    for (const name of ['core', 'train', 'comm', 'data', 'zero']) expect(res.stdout).toContain(`bench:${name} is not defined in package.json`);
    const runs = JSON.parse(readFileSync(join(tmp.dir, 'bench-results', 'runs.json'), 'utf8')) as Record<string, { command: string; load_before: number[] }>;
    expect(runs.alpha!.command).toMatch(/BENCH_FOO=7 npm run bench:alpha$/);
    expect(runs.alpha!.load_before).toHaveLength(3);
    const doc = readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8');
    expect(doc).toContain('| tokens_per_s | 123 |');
    expect(doc).toMatch(/- command: `BENCH_FOO=7 npm run bench:alpha`/);
  });

  it('a benchmark that writes no result fails the run and leaves the doc alone', () => {
    packageWith({ 'bench:alpha': writes('alpha', 1), 'bench:beta': 'node -e "0"' });
    const res = spawnSync(process.execPath, [ALL], { cwd: tmp.dir, encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('bench:beta finished but wrote no bench-results/beta.json');
    expect(existsSync(join(tmp.dir, 'docs', 'benchmarks.md'))).toBe(false);
  });

  it('a failing benchmark fails the run', () => {
    packageWith({ 'bench:alpha': 'node -e "process.exit(3)"' });
    const res = spawnSync(process.execPath, [ALL], { cwd: tmp.dir, encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('bench:alpha exited with status 3');
  });
});
