// npm run bench:zero — training steps of the [CORE] bench model (4 layers, hidden 512, vocab
// 8192, global batch 4 x 1024, fp32, AdamW, clipping) on 2 ranks over 127.0.0.1: our ZeRO
// stages 0-3 and PyTorch's DistributedDataParallel (gloo) with AdamW and with
// ZeroRedundancyOptimizer, each started by telechat-launch in the same run, one thread per
// rank. Per side: the best step time of BENCH_STEPS timed steps (default 2, after one warm-up)
// and each rank's peak RSS. Writes bench-results/zero.json and prints a table with the ratios
// to PyTorch DDP. The machine load (1-minute average) is recorded before and after: on a
// shared machine the timings are noisy.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { BENCH_CONFIG, BENCH_SHAPE } from './core_config.js';
import { freePort } from '../distributed/free_port.js';

interface Side {
  side: string;
  ranks: number;
  step_s: number;
  tokens_per_s: number;
  peak_rss_mb: number[];
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
  const steps = Number(process.env.BENCH_STEPS ?? 2);
  const python = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
  const loadBefore = loadavg()[0]!;
  const sides: Side[] = [];
  for (const which of ['ddp', 'zero1']) {
    sides.push(await launch(ranks, [python, join('scripts', 'bench', 'zero_torch.py'), JSON.stringify(BENCH_CONFIG), which, String(steps)]));
  }
  for (const stage of [0, 1, 2, 3]) {
    sides.push(await launch(ranks, [process.execPath, join('dist', 'bench', 'zero_worker.js'), String(stage), String(steps)]));
  }
  const loadAfter = loadavg()[0]!;
  const ddp = sides[0]!;
  const maxRss = (s: Side) => Math.max(...s.peak_rss_mb);
  const rows = sides.map((s) => ({ ...s, throughput_vs_ddp: s.tokens_per_s / ddp.tokens_per_s, peak_rss_vs_ddp: maxRss(s) / maxRss(ddp) }));
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, load_1min_before: loadBefore, load_1min_after: loadAfter };
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(join('bench-results', 'zero.json'), JSON.stringify({
    bench: 'zero', date: new Date().toISOString(), machine, ranks, threads_per_rank: 1, steps, config: BENCH_CONFIG, batch: BENCH_SHAPE, rows,
  }, null, 2) + '\n');
  console.log(`bench:zero  ${ranks} ranks x 1 thread, ${machine.cores} cores (${machine.cpu}), load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}; best of ${steps} steps`);
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
