// npm run bench:core — forward+backward of the [CORE] bench model, ours vs PyTorch eager,
// in one run on the same threads. Each side runs in its own process so peak RSS is its own.
// Writes bench-results/core.json and prints the ratios.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_CONFIG } from './core_config.js';

interface SideResult {
  side: string;
  step_s: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  gflops?: number;
  sgemm_gflops?: number;
}

function run(cmd: string, args: string[], threads: number): SideResult {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}):\n${res.stderr}`);
  const line = res.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as SideResult;
}

function main(): void {
  const iters = Number(process.env.BENCH_ITERS ?? 5);
  const threads = Number(process.env.BENCH_THREADS ?? 2);
  const python = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
  const ours = run(process.execPath, [join('dist', 'bench', 'core_worker.js'), String(iters)], threads);
  const torch = run(python, [join('scripts', 'bench', 'core_torch.py'), JSON.stringify(BENCH_CONFIG), String(iters), String(threads)], threads);
  const summary = {
    bench: 'core',
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, threads },
    load_average_1m_at_end: loadavg()[0], // a shared machine: how much CPU the run really had
    config: BENCH_CONFIG,
    ours,
    torch,
    ratios: {
      throughput_vs_torch: ours.tokens_per_s / torch.tokens_per_s,
      peak_rss_vs_torch: ours.peak_rss_mb / torch.peak_rss_mb,
      fraction_of_sgemm: (ours.gflops ?? 0) / (ours.sgemm_gflops ?? 1),
    },
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(join('bench-results', 'core.json'), JSON.stringify(summary, null, 2) + '\n');
  const r = summary.ratios;
  console.log(`bench:core  ${threads} threads, ${summary.machine.cpu}`);
  console.log(`  telechat-train  ${ours.tokens_per_s.toFixed(0)} tok/s  ${ours.peak_rss_mb.toFixed(0)} MB peak RSS  ${ours.gflops?.toFixed(1)} GFLOP/s (sgemm ${ours.sgemm_gflops?.toFixed(1)})`);
  console.log(`  pytorch eager   ${torch.tokens_per_s.toFixed(0)} tok/s  ${torch.peak_rss_mb.toFixed(0)} MB peak RSS`);
  console.log(`  throughput x${r.throughput_vs_torch.toFixed(2)} (target >= 1.5)  peak RSS x${r.peak_rss_vs_torch.toFixed(2)} (target <= 0.6)  ${(100 * r.fraction_of_sgemm).toFixed(0)}% of sgemm (target >= 60%)`);
}

main();
