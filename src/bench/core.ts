// npm run bench:core — forward+backward of the [CORE] bench model, ours vs PyTorch eager
// (scripts/bench/core_torch.py: torch.__version__ recorded at run time, fp32, the full T x T
// attention scores materialised by masked_fill + softmax), on the same threads. Each side runs
// in its own process so peak RSS is its own.
//
// A launch reports the median of BENCH_ITERS timed iterations after one warm-up. The sides
// alternate over BENCH_ROUNDS launches each (order swapped every round, as bench:comm does),
// and a side's time is the best (lowest) of its launch medians: on a shared machine a burst of
// other work during one launch only slows that launch, so neither side gets a single launch.
// Peak RSS is the largest over a side's launches. Writes bench-results/core.json.
// Env: BENCH_ITERS (default 5), BENCH_ROUNDS (default 3), BENCH_THREADS (default 2).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../observe/files.js';
import { BENCH_CONFIG, BENCH_SHAPE, checkPeerShape, peerConfigJson } from './core_config.js';
import { benchCommand, positiveIntEnv } from './env.js';
import { blasRecord } from './sgemm.js';

interface SideResult {
  side: string;
  threads: number;
  step_s: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  gflops?: number;
  sgemm_gflops?: number;
  torch?: string; // torch.__version__ of the PyTorch side
  dtype?: string;
  batch?: number; // the batch the PyTorch side ran
  seq_len?: number;
}

function run(cmd: string, args: string[], threads: number): SideResult {
  const res = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}):\n${res.stderr}`);
  const line = res.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as SideResult;
}

/** The launch with the best (lowest) median step time; peak RSS the largest of all launches. */
function bestOf(launches: SideResult[]): SideResult & { step_s_per_round: number[] } {
  const best = launches.reduce((a, b) => (b.step_s < a.step_s ? b : a));
  return { ...best, peak_rss_mb: Math.max(...launches.map((l) => l.peak_rss_mb)), step_s_per_round: launches.map((l) => l.step_s) };
}

function main(): void {
  const iters = positiveIntEnv('BENCH_ITERS', 5);
  const rounds = positiveIntEnv('BENCH_ROUNDS', 3);
  const threads = positiveIntEnv('BENCH_THREADS', 2);
  const python = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
  const commands = {
    ours: [process.execPath, [join('dist', 'bench', 'core_worker.js'), String(iters)]],
    torch: [python, [join('scripts', 'bench', 'core_torch.py'), peerConfigJson(), String(iters), String(threads)]],
  } as const;
  const launches: Record<'ours' | 'torch', SideResult[]> = { ours: [], torch: [] };
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['ours', 'torch'] as const) : (['torch', 'ours'] as const);
    for (const side of order) {
      loads.push(loadavg()[0]!);
      const [cmd, args] = commands[side];
      const r = run(cmd, [...args], threads);
      if (side === 'torch') checkPeerShape('scripts/bench/core_torch.py', r);
      launches[side].push(r);
      console.log(`  round ${round + 1} ${side.padEnd(5)} ${r.step_s.toFixed(3)} s/step (median of ${iters})  load ${loads[loads.length - 1]!.toFixed(2)}`);
    }
  }
  loads.push(loadavg()[0]!);
  const ours = bestOf(launches.ours);
  const torch = bestOf(launches.torch);
  if (typeof torch.torch !== 'string') throw new Error('scripts/bench/core_torch.py printed no torch version');
  const sorted = [...loads].sort((a, b) => a - b);
  const summary = {
    bench: 'core',
    date: new Date().toISOString(),
    command: benchCommand('core'),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, threads },
    blas: blasRecord(),
    load_average_1m: { min: sorted[0], median: sorted[sorted.length >> 1], max: sorted[sorted.length - 1], samples: loads },
    iters,
    rounds,
    timing: `median of ${iters} iterations per launch (after one warm-up); best of ${rounds} alternating launches per side`,
    config: BENCH_CONFIG,
    shape: BENCH_SHAPE,
    ours,
    torch,
    ratios: {
      throughput_vs_torch: ours.tokens_per_s / torch.tokens_per_s,
      peak_rss_vs_torch: ours.peak_rss_mb / torch.peak_rss_mb,
      fraction_of_sgemm: (ours.gflops ?? 0) / (ours.sgemm_gflops ?? 1),
    },
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileAtomic(join('bench-results', 'core.json'), JSON.stringify(summary, null, 2) + '\n');
  const r = summary.ratios;
  console.log(`bench:core  ${threads} threads, ${summary.machine.cpu}; ${summary.timing}`);
  console.log(`  telechat-train  ${ours.tokens_per_s.toFixed(0)} tok/s  ${ours.peak_rss_mb.toFixed(0)} MB peak RSS  ${ours.gflops?.toFixed(1)} GFLOP/s (sgemm ${ours.sgemm_gflops?.toFixed(1)})`);
  console.log(`  pytorch ${torch.torch} eager  ${torch.tokens_per_s.toFixed(0)} tok/s  ${torch.peak_rss_mb.toFixed(0)} MB peak RSS`);
  console.log(`  throughput x${r.throughput_vs_torch.toFixed(2)} (target >= 1.5)  peak RSS x${r.peak_rss_vs_torch.toFixed(2)} (target <= 0.6)  ${(100 * r.fraction_of_sgemm).toFixed(0)}% of sgemm (target >= 60%)`);
}

try {
  main();
} catch (e) {
  console.error(`bench:core: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
