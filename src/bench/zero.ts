// npm run bench:zero — training steps of the [CORE] bench model (4 layers, hidden 512, vocab
// 8192, global batch 4 x 1024, fp32, AdamW, clipping) on 2 ranks over 127.0.0.1: our ZeRO
// stages 0-3 and PyTorch's DistributedDataParallel (gloo) with AdamW and with
// ZeroRedundancyOptimizer (scripts/bench/zero_torch.py: torch.__version__ recorded at run time,
// eager, full T x T attention scores), each started by telechat-launch in the same run, one
// thread per rank. A launch reports the best step time of BENCH_STEPS timed steps (default 2,
// after one warm-up) and each rank's peak RSS. The six sides alternate over BENCH_ROUNDS
// launches each (default 3; the order rotates every round, so no side always runs first or after
// the same neighbour), and a side's time is the best of its launches, its per-rank peak RSS the
// largest: on a shared machine a burst of other work slows one launch, so no side gets only
// one. Writes bench-results/zero.json and prints a table with the ratios to PyTorch DDP. The
// 1-minute load average is recorded before each launch.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../observe/files.js';
import { BENCH_CONFIG, BENCH_SHAPE, checkPeerShape, peerConfigJson } from './core_config.js';
import { freePort } from '../distributed/free_port.js';
import { benchCommand, positiveIntEnv } from './env.js';
import { blasRecord } from './sgemm.js';

interface Side {
  side: string;
  ranks: number;
  step_s: number;
  tokens_per_s: number;
  peak_rss_mb: number[];
  torch?: string; // torch.__version__ of a PyTorch side
  threads?: number; // torch.get_num_threads() of a PyTorch side
  build?: unknown; // its build: BLAS, CPU capability (scripts/bench/torch_build.py)
  batch?: number; // the global batch a PyTorch side ran
  seq_len?: number;
  step_s_per_round?: number[];
}

async function launch(ranks: number, command: string[]): Promise<Side> {
  const port = await freePort();
  const res = spawnSync(process.execPath, [join('dist', 'cli', 'launch.js'), '--nproc-per-node', String(ranks), '--master-port', String(port), '--', ...command],
    { encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  if (res.status !== 0) throw new Error(`${command.join(' ')} on ${ranks} ranks failed (${res.status}):\n${res.stderr}`);
  const line = res.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${command.join(' ')} printed no result:\n${res.stdout}`);
  return JSON.parse(line) as Side;
}

async function main(): Promise<void> {
  const ranks = 2;
  const steps = positiveIntEnv('BENCH_STEPS', 2);
  const rounds = positiveIntEnv('BENCH_ROUNDS', 3);
  const python = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
  const loadBefore = loadavg()[0]!;
  const commands: string[][] = [
    ...['ddp', 'zero1'].map((which) => [python, join('scripts', 'bench', 'zero_torch.py'), peerConfigJson(), which, String(steps)]),
    ...[0, 1, 2, 3].map((stage) => [process.execPath, join('dist', 'bench', 'zero_worker.js'), String(stage), String(steps)]),
  ];
  const launches: Side[][] = commands.map(() => []);
  const loads: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < commands.length; k++) {
      const i = (k + round) % commands.length; // rotate the order every round
      loads.push(loadavg()[0]!);
      const side = await launch(ranks, commands[i]!);
      if (side.side.startsWith('pytorch')) checkPeerShape(`${side.side} (scripts/bench/zero_torch.py)`, side);
      launches[i]!.push(side);
      console.log(`  round ${round + 1} ${side.side.padEnd(22)} ${side.step_s.toFixed(2)} s/step  load ${loads[loads.length - 1]!.toFixed(2)}`);
    }
  }
  // best step time of each side's launches; per-rank peak RSS the largest over them
  const sides: Side[] = launches.map((ls) => {
    const best = ls.reduce((a, b) => (b.step_s < a.step_s ? b : a));
    return { ...best, peak_rss_mb: best.peak_rss_mb.map((_, r) => Math.max(...ls.map((l) => l.peak_rss_mb[r]!))), step_s_per_round: ls.map((l) => l.step_s) };
  });
  const torchVersion = sides[0]!.torch;
  if (typeof torchVersion !== 'string') throw new Error('scripts/bench/zero_torch.py printed no torch version');
  const loadAfter = loadavg()[0]!;
  loads.push(loadAfter);
  const sorted = [...loads].sort((a, b) => a - b);
  const ddp = sides[0]!;
  const maxRss = (s: Side) => Math.max(...s.peak_rss_mb);
  const rows = sides.map((s) => ({ ...s, throughput_vs_ddp: s.tokens_per_s / ddp.tokens_per_s, peak_rss_vs_ddp: maxRss(s) / maxRss(ddp) }));
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, load_1min_before: loadBefore, load_1min_after: loadAfter };
  const loadAverage = { min: sorted[0], median: sorted[sorted.length >> 1], max: sorted[sorted.length - 1], samples: loads };
  mkdirSync('bench-results', { recursive: true });
  writeFileAtomic(join('bench-results', 'zero.json'), JSON.stringify({
    bench: 'zero', date: new Date().toISOString(), command: benchCommand('zero'), machine, blas: blasRecord(), load_average_1m: loadAverage, ranks, threads_per_rank: 1, steps, rounds,
    timing: `best of ${steps} timed steps per launch (after one warm-up); best of ${rounds} launches per side, order rotated every round`,
    peer: { torch: torchVersion, threads_per_rank: sides[0]!.threads ?? null, dtype: 'float32', backend: 'gloo', build: sides[0]!.build },
    config: BENCH_CONFIG, batch: BENCH_SHAPE, rows,
  }, null, 2) + '\n');
  console.log(`bench:zero  ${ranks} ranks x 1 thread, ${machine.cores} cores (${machine.cpu}), load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}; best of ${steps} steps per launch, ${rounds} rounds; PyTorch ${torchVersion}`);
  console.log('| side | step (s) | tokens/s | x PyTorch DDP | peak RSS per rank (MB) | RSS x DDP |');
  console.log('|---|---:|---:|---:|---|---:|');
  for (const r of rows) {
    console.log(`| ${r.side} | ${r.step_s.toFixed(2)} | ${r.tokens_per_s.toFixed(0)} | ${r.throughput_vs_ddp.toFixed(2)} | ${r.peak_rss_mb.map((m) => m.toFixed(0)).join(' / ')} | ${r.peak_rss_vs_ddp.toFixed(2)} |`);
  }
  const ours = (stage: number) => rows.find((r) => r.side === `telechat-train zero${stage}`)!;
  const s3 = ours(3);
  console.log(`targets: stages 0-2 >= 1.0x DDP throughput: ${[0, 1, 2].every((s) => ours(s).throughput_vs_ddp >= 1) ? 'met' : 'NOT met'}; ` +
    `stage 3 >= 0.8x with peak RSS below DDP's: ${s3.throughput_vs_ddp >= 0.8 && s3.peak_rss_vs_ddp < 1 ? 'met' : 'NOT met'}`);
}

main().catch((e: unknown) => {
  console.error(`bench:zero: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
