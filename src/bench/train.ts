// npm run bench:train — tokens/s and peak RSS of a full training step (forward, backward,
// clipping, AdamW) of the [CORE] bench model: ours in fp32 and bf16 through the trainer's
// ZeroEngine path (train_worker.ts), PyTorch eager fp32 (scripts/bench/core_torch.py --train)
// and PyTorch bf16 autocast (--bf16-autocast: how a PyTorch user runs bf16 on a CPU), same
// shapes and threads, in one run. Writes bench-results/train.json. Each round also measures
// the sgemm yardstick (sgemm.ts) in this process, for our fp32 step's fraction of it (FLOPs
// counted as bench:core does: causal attention). LoRA rows: the same step with r = BENCH_LORA_R
// adapters on every block projection over a frozen base, ours (fp32, bf16) and PyTorch's
// (core_torch.py --train --lora R: autograd on A and B, base requires_grad off).
//
// Timing is from outside the process: each side runs once with SHORT steps and once with LONG
// steps, and a step costs (wall(LONG) - wall(SHORT)) / (LONG - SHORT), so start-up, weight
// initialisation and the warm-up step cancel. The sides alternate, BENCH_REPEATS times, and
// each side's median is kept: on a shared machine other jobs come and go, and alternating
// exposes every side to the same conditions. The 1-minute load average is recorded per run.
// The same difference of the processes' CPU seconds (user + system, each process's own rusage)
// is reported too: on an oversubscribed machine it moves far less than wall time, though
// OpenMP threads that spin while a sibling is descheduled still inflate it.
//
// LONG - SHORT = 3 steps: with one step the difference of two process wall times moved +-20%
// between rounds on this shared machine (start-up alone varies by a good part of a bf16 step).
//
// Env: BENCH_REPEATS (default 3), BENCH_SHORT_STEPS (1), BENCH_LONG_STEPS (4), BENCH_THREADS (2),
// BENCH_SIDES (a comma list of sides to run), BENCH_EVAL (the eval-cost measurement, on unless 0),
// TELECHAT_PYTHON (/usr/bin/python3), BENCH_PROFILE=0 (skip the four profiled runs of ours, fp32,
// bf16, LoRA fp32 and LoRA bf16 with TELECHAT_PROFILE=1, whose per-op tables go into train.json after the timing).
// BENCH_SIDES, BENCH_EVAL=0 and BENCH_PROFILE=0 are for development: `npm run bench:report` refuses
// a train.json that lacks a side, the eval cost or the profile (its targets would leave the page).
//
// OpenBLAS (our fp32 products) picks its kernels when it loads, unless OPENBLAS_CORETYPE forces a
// core. When the environment forces one (this kind of machine sets OPENBLAS_CORETYPE=Haswell: AVX2
// kernels on an AVX-512 CPU, half its fp32 rate), our fp32 full and LoRA sides also run a second
// time without the variable (sides *_own_blas), with the sgemm yardstick measured the same way, so
// the page shows both (PyTorch's sides run once, as the environment is).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../observe/files.js';
import { parseModelSpec } from '../model/spec.js';
import { cpuAttentionTilePath, cpuBf16GemmPath, cpuLoraTilePath } from '../native/kernels.js';
import { setNumThreads } from '../native/tensor.js';
import { BENCH_CONFIG, BENCH_LORA_R, BENCH_SHAPE, TRAIN_HYPER, checkPeerShape, peerConfigJson, trainingFlopsPerStep } from './core_config.js';
import { benchCommand, positiveIntEnv } from './env.js';
import { blasRecord, measureSgemm } from './sgemm.js';
import { median } from './stats.js';

type SideName = 'ours_fp32' | 'ours_bf16' | 'torch_fp32' | 'torch_bf16' | 'ours_lora_fp32' | 'ours_lora_bf16' | 'torch_lora_fp32'
  | 'ours_fp32_own_blas' | 'ours_lora_fp32_own_blas';
const OWN_BLAS_SIDES: SideName[] = ['ours_fp32_own_blas', 'ours_lora_fp32_own_blas'];
const ALL_SIDES: SideName[] = ['ours_fp32', 'ours_bf16', 'torch_fp32', 'torch_bf16', 'ours_lora_fp32', 'ours_lora_bf16', 'torch_lora_fp32', ...OWN_BLAS_SIDES];
/** The OpenBLAS kernels our fp32 runs on, and the core this environment forces (null: OpenBLAS chooses). */
const BLAS = blasRecord();
/** BENCH_SIDES=a,b limits a run to some sides (the summary then reports only what ran; bench:report refuses it). */
function sidesToRun(): SideName[] {
  const sides = process.env.BENCH_SIDES ? (process.env.BENCH_SIDES.split(',') as SideName[])
    : ALL_SIDES.filter((s) => BLAS.forced_by_env !== null || !OWN_BLAS_SIDES.includes(s));
  for (const s of sides) {
    if (!ALL_SIDES.includes(s)) throw new Error(`BENCH_SIDES: unknown side ${s}; sides are ${ALL_SIDES.join(', ')}`);
    // without a forced core they would run exactly as their plain sides and be labelled otherwise
    if (OWN_BLAS_SIDES.includes(s) && BLAS.forced_by_env === null) throw new Error(`BENCH_SIDES: ${s} needs OPENBLAS_CORETYPE set (it reruns our fp32 without it)`);
  }
  return sides;
}

interface Run {
  wall_s: number;
  /** User + system CPU seconds of the process (its own rusage, printed at exit). */
  cpu_s: number;
  peak_rss_mb: number;
  load_1m: number;
  /** torch.__version__, torch.get_num_threads() and its build (BLAS, CPU capability; PyTorch side). */
  torch?: string;
  threads?: number;
  build?: unknown;
}

interface ProfileResult {
  /** Steps the profile covers (the warm-up step excluded). */
  steps: number;
  /** Wall time of those steps, measured in the process. */
  step_wall_s: number;
  rows: Array<{ op: string; calls: number; seconds: number }>;
}

interface Sample {
  step_s: number;
  step_cpu_s: number;
  short: Run;
  long: Run;
}

const REPEATS = positiveIntEnv('BENCH_REPEATS', 3);
const SHORT = positiveIntEnv('BENCH_SHORT_STEPS', 1);
const LONG = positiveIntEnv('BENCH_LONG_STEPS', 4);
const THREADS = positiveIntEnv('BENCH_THREADS', 2);
const PYTHON = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
if (LONG <= SHORT) throw new Error(`BENCH_LONG_STEPS (${LONG}) must exceed BENCH_SHORT_STEPS (${SHORT})`);

function command(side: SideName, steps: number): [string, string[]] {
  if (side === 'torch_fp32' || side === 'torch_bf16' || side === 'torch_lora_fp32') {
    // core_torch.py runs one warm-up step, then ITERS more
    const cfg = peerConfigJson({ train: TRAIN_HYPER });
    const lora = side === 'torch_lora_fp32' ? ['--lora', String(BENCH_LORA_R)] : [];
    const autocast = side === 'torch_bf16' ? ['--bf16-autocast'] : [];
    return [PYTHON, [join('scripts', 'bench', 'core_torch.py'), cfg, String(steps - 1), String(THREADS), '--train', ...lora, ...autocast]];
  }
  const bf16 = side === 'ours_bf16' || side === 'ours_lora_bf16';
  const lora = side === 'ours_lora_fp32' || side === 'ours_lora_bf16' || side === 'ours_lora_fp32_own_blas' ? ['lora'] : [];
  return [process.execPath, [join('dist', 'bench', 'train_worker.js'), bf16 ? 'bf16' : 'fp32', String(steps), ...lora]];
}

function runOnce(side: SideName, steps: number): Run {
  const [cmd, args] = command(side, steps);
  const load = loadavg()[0]!;
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(THREADS) };
  delete env.TELECHAT_PROFILE; // the profiler's timers are not part of the benchmark
  if (OWN_BLAS_SIDES.includes(side)) delete env.OPENBLAS_CORETYPE;
  const t0 = process.hrtime.bigint();
  const res = spawnSync(cmd, args, { encoding: 'utf8', env });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (res.status !== 0) throw new Error(`${side} (${steps} steps) failed with status ${res.status}: ${cmd} ${args.join(' ')}\n${res.stderr}`);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  const out = JSON.parse(line) as { peak_rss_mb: number; cpu_s: number; torch?: string; threads?: number; build?: unknown; batch?: number; seq_len?: number };
  if (side.startsWith('torch_')) checkPeerShape(`${side} (scripts/bench/core_torch.py)`, out);
  return { wall_s: wall, cpu_s: out.cpu_s, peak_rss_mb: out.peak_rss_mb, load_1m: load, torch: out.torch, threads: out.threads, build: out.build };
}

/** One extra run of our side with TELECHAT_PROFILE=1: per-op times of the steps after the first. */
function profileRun(precision: 'fp32' | 'bf16', lora = false): ProfileResult {
  const args = [join('dist', 'bench', 'train_worker.js'), precision, String(Math.max(LONG, 2)), ...(lora ? ['lora'] : [])];
  const env = { ...process.env, OMP_NUM_THREADS: String(THREADS), TELECHAT_PROFILE: '1' };
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', env });
  if (res.status !== 0) throw new Error(`profile run (${precision}) failed with status ${res.status}:\n${res.stderr}`);
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as { profile?: ProfileResult };
  if (!out.profile) throw new Error(`profile run (${precision}) printed no profile`);
  return out.profile;
}

/**
 * The evaluation cost target (issue EVAL): evaluating N tokens (forward only, engine.evalLoss)
 * against one training step of the same N tokens, medians within one process after warm-up.
 */
function evalCostRun(precision: 'fp32' | 'bf16'): { eval_s: number; step_s: number; ratio: number; eval_cpu_s: number; step_cpu_s: number; cpu_ratio: number } {
  const n = Math.max(LONG, 3); // steps: the median is of those after the warm-up step; evaluations: after one warm-up
  const args = [join('dist', 'bench', 'train_worker.js'), precision, String(n), String(n)];
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(THREADS) } });
  if (res.status !== 0) throw new Error(`eval cost run (${precision}) failed with status ${res.status}:\n${res.stderr}`);
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as { step_s_in_process: number; eval_s_in_process: number; step_cpu_s_in_process: number; eval_cpu_s_in_process: number };
  return {
    eval_s: out.eval_s_in_process, step_s: out.step_s_in_process, ratio: out.eval_s_in_process / out.step_s_in_process,
    // CPU seconds (all threads) are less disturbed by other jobs on a shared machine than wall time
    eval_cpu_s: out.eval_cpu_s_in_process, step_cpu_s: out.step_cpu_s_in_process, cpu_ratio: out.eval_cpu_s_in_process / out.step_cpu_s_in_process,
  };
}

/** The sgemm yardstick in a fresh process without OPENBLAS_CORETYPE: OpenBLAS's own kernel choice. */
function ownBlasSgemm(): { gflops: number; core: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(THREADS) };
  delete env.OPENBLAS_CORETYPE;
  const res = spawnSync(process.execPath, [join('dist', 'bench', 'sgemm_worker.js')], { encoding: 'utf8', env });
  if (res.status !== 0) throw new Error(`sgemm_worker failed with status ${res.status}:\n${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop() ?? '') as { gflops: number; core: string };
}

function main(): void {
  const started = Date.now();
  const sides = sidesToRun();
  const tokens = BENCH_SHAPE.batch * BENCH_SHAPE.seqLen;
  const samples: Record<SideName, Sample[]> = {
    ours_fp32: [], ours_bf16: [], torch_fp32: [], torch_bf16: [], ours_lora_fp32: [], ours_lora_bf16: [], torch_lora_fp32: [],
    ours_fp32_own_blas: [], ours_lora_fp32_own_blas: [],
  };
  const sgemmSamples: number[] = [];
  const ownBlas = sides.some((s) => OWN_BLAS_SIDES.includes(s));
  const ownSgemmSamples: number[] = [];
  let ownCore = '';
  setNumThreads(THREADS);
  const bf16GemmPath = cpuBf16GemmPath();
  console.log(`bench:train  ${THREADS} threads, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; ${REPEATS} rounds of ${SHORT} vs ${LONG} steps per side; our bf16 GEMM: ${bf16GemmPath}`);
  for (let r = 0; r < REPEATS; r++) {
    sgemmSamples.push(measureSgemm() / 1e9);
    console.log(`  round ${r + 1} sgemm ${sgemmSamples[r]!.toFixed(1)} GFLOP/s`);
    if (ownBlas) {
      const own = ownBlasSgemm();
      ownSgemmSamples.push(own.gflops);
      ownCore = own.core;
      console.log(`  round ${r + 1} sgemm ${own.gflops.toFixed(1)} GFLOP/s on OpenBLAS's own choice, ${own.core}`);
    }
    // rotate the order each round so no side always runs right after the same neighbour
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      const short = runOnce(side, SHORT);
      const long = runOnce(side, LONG);
      const step = (long.wall_s - short.wall_s) / (LONG - SHORT);
      const stepCpu = (long.cpu_s - short.cpu_s) / (LONG - SHORT);
      if (!(step > 0)) {
        // the longer run finished first: other jobs' load swamped the extra steps, and no time derived from it is true
        throw new Error(`round ${r + 1} ${side}: ${LONG} steps took ${long.wall_s.toFixed(1)} s, ${SHORT} step(s) ${short.wall_s.toFixed(1)} s, ` +
          'so a step has no positive time; the machine is too loaded for this difference (raise BENCH_LONG_STEPS or rerun on a quieter machine)');
      }
      samples[side].push({ step_s: step, step_cpu_s: stepCpu, short, long });
      console.log(`  round ${r + 1} ${side.padEnd(10)} step ${step.toFixed(2)} s  (${short.wall_s.toFixed(1)} s / ${long.wall_s.toFixed(1)} s)  cpu ${stepCpu.toFixed(2)} s  ` +
        `peak RSS ${long.peak_rss_mb.toFixed(0)} MB  load ${short.load_1m.toFixed(2)}`);
    }
  }
  const summarise = (side: SideName) => {
    const s = samples[side];
    if (s.length === 0) return null;
    const step = median(s.map((x) => x.step_s));
    const cpu = median(s.map((x) => x.step_cpu_s));
    return {
      step_s: step,
      tokens_per_s: tokens / step,
      step_cpu_s: cpu,
      tokens_per_cpu_s: tokens / cpu,
      peak_rss_mb: Math.max(...s.flatMap((x) => [x.short.peak_rss_mb, x.long.peak_rss_mb])),
      step_s_samples: s.map((x) => x.step_s),
      step_cpu_s_samples: s.map((x) => x.step_cpu_s),
      load_1m_samples: s.map((x) => x.short.load_1m),
    };
  };
  const ours_fp32 = summarise('ours_fp32');
  const ours_bf16 = summarise('ours_bf16');
  const torch_fp32 = summarise('torch_fp32');
  const torch_bf16 = summarise('torch_bf16');
  const ours_lora_fp32 = summarise('ours_lora_fp32');
  const ours_lora_bf16 = summarise('ours_lora_bf16');
  const torch_lora_fp32 = summarise('torch_lora_fp32');
  const ours_fp32_own_blas = summarise('ours_fp32_own_blas');
  const ours_lora_fp32_own_blas = summarise('ours_lora_fp32_own_blas');
  type Summary = NonNullable<typeof ours_fp32>;
  /** a / b of two sides' values, or null when either did not run. */
  const ratio = (a: Summary | null, b: Summary | null, f: (s: Summary) => number): number | null => (a && b ? f(a) / f(b) : null);
  const tps = (s: Summary): number => s.tokens_per_s;
  const rss = (s: Summary): number => s.peak_rss_mb;
  const cpuStep = (s: Summary): number => s.step_cpu_s;
  const flops = trainingFlopsPerStep(parseModelSpec(BENCH_CONFIG), BENCH_SHAPE.batch, BENCH_SHAPE.seqLen);
  const sgemm = { gflops: median(sgemmSamples), samples: sgemmSamples };
  const fp32Gflops = ours_fp32 ? flops / ours_fp32.step_s / 1e9 : null;
  const ownSgemm = ownBlas ? { gflops: median(ownSgemmSamples), samples: ownSgemmSamples } : null;
  const ownFp32Gflops = ours_fp32_own_blas ? flops / ours_fp32_own_blas.step_s / 1e9 : null;
  // the profile's timers are outside the timed rounds; BENCH_PROFILE=0 skips it
  const profiles = process.env.BENCH_PROFILE === '0' ? null : {
    fp32: profileRun('fp32'), bf16: profileRun('bf16'), lora_fp32: profileRun('fp32', true), lora_bf16: profileRun('bf16', true),
  };
  // the peer's version and build, from whichever PyTorch side ran (BENCH_SIDES may leave some out)
  const torchSide = (['torch_fp32', 'torch_bf16', 'torch_lora_fp32'] as const).find((s) => samples[s].length > 0);
  const torchRun = torchSide ? samples[torchSide][0]!.long : null;
  if (torchRun && typeof torchRun.torch !== 'string') throw new Error('scripts/bench/core_torch.py --train printed no torch version');
  const evalCost = process.env.BENCH_EVAL === '0' ? null : {
    timing: `in-process medians, of ${Math.max(LONG, 3) - 1} steps after the warm-up step and of ${Math.max(LONG, 3)} evaluations after a warm-up one`,
    fp32: evalCostRun('fp32'), bf16: evalCostRun('bf16'),
  };
  const loads = sides.flatMap((s) => samples[s].flatMap((x) => [x.short.load_1m, x.long.load_1m]));
  const result = {
    bench: 'train',
    date: new Date().toISOString(),
    command: benchCommand('train'),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, threads: THREADS },
    load_average_1m: { min: Math.min(...loads), median: median(loads), max: Math.max(...loads), at_end: loadavg()[0] },
    peer: torchRun ? { torch: torchRun.torch, threads: torchRun.threads ?? THREADS, dtype: 'float32', build: torchRun.build } : null,
    config: BENCH_CONFIG,
    shape: BENCH_SHAPE,
    optimizer: { ...TRAIN_HYPER, note: 'AdamW, weight decay on matrices and embeddings, global-norm clipping; ours: ZeroEngine stage 0 at world size 1' },
    timing: `(wall(${LONG} steps) - wall(${SHORT} steps)) / ${LONG - SHORT} per process, median of ${REPEATS} alternating rounds`,
    tokens_per_step: tokens,
    lora: { r: BENCH_LORA_R, alpha: 2 * BENCH_LORA_R, targets: 'every block projection (all-linear)' },
    ours_fp32,
    ours_bf16,
    torch_fp32,
    torch_bf16,
    ours_lora_fp32,
    ours_lora_bf16,
    torch_lora_fp32,
    bf16_gemm_path: bf16GemmPath,
    attention_tile_path: cpuAttentionTilePath(),
    lora_tile_path: cpuLoraTilePath(),
    flops_per_step: flops,
    sgemm,
    ours_fp32_gflops: fp32Gflops,
    blas: BLAS,
    // our fp32 sides again under OpenBLAS's own kernel choice (only when the environment forces a core)
    own_blas: ownBlas ? {
      core: ownCore,
      sgemm: ownSgemm,
      ours_fp32: ours_fp32_own_blas,
      ours_lora_fp32: ours_lora_fp32_own_blas,
      ours_fp32_gflops: ownFp32Gflops,
      ratios: {
        fp32_fraction_of_sgemm: ownFp32Gflops === null || !ownSgemm ? null : ownFp32Gflops / ownSgemm.gflops,
        lora_fp32_throughput_vs_full: ratio(ours_lora_fp32_own_blas, ours_fp32_own_blas, tps),
        lora_fp32_peak_rss_vs_full: ratio(ours_lora_fp32_own_blas, ours_fp32_own_blas, rss),
      },
    } : null,
    ratios: {
      bf16_throughput_vs_torch_bf16: ratio(ours_bf16, torch_bf16, tps),
      bf16_throughput_vs_ours_fp32: ratio(ours_bf16, ours_fp32, tps),
      fp32_fraction_of_sgemm: fp32Gflops === null ? null : fp32Gflops / sgemm.gflops,
      fp32_throughput_vs_torch: ratio(ours_fp32, torch_fp32, tps),
      bf16_throughput_vs_torch: ratio(ours_bf16, torch_fp32, tps),
      fp32_peak_rss_vs_torch: ratio(ours_fp32, torch_fp32, rss),
      bf16_peak_rss_vs_torch: ratio(ours_bf16, torch_fp32, rss),
      fp32_cpu_per_token_vs_torch: ratio(torch_fp32, ours_fp32, cpuStep),
      bf16_cpu_per_token_vs_torch: ratio(torch_fp32, ours_bf16, cpuStep),
      // LoRA: our LoRA step against our full fine-tuning step (same precision), and against PyTorch's LoRA step
      lora_fp32_throughput_vs_full: ratio(ours_lora_fp32, ours_fp32, tps),
      lora_bf16_throughput_vs_full: ratio(ours_lora_bf16, ours_bf16, tps),
      lora_fp32_peak_rss_vs_full: ratio(ours_lora_fp32, ours_fp32, rss),
      lora_bf16_peak_rss_vs_full: ratio(ours_lora_bf16, ours_bf16, rss),
      lora_fp32_throughput_vs_torch_lora: ratio(ours_lora_fp32, torch_lora_fp32, tps),
      lora_fp32_peak_rss_vs_torch_lora: ratio(ours_lora_fp32, torch_lora_fp32, rss),
    },
    targets: {
      throughput_vs_torch: '>= 1.5',
      peak_rss_vs_torch: '<= 0.6',
      bf16_throughput_vs_torch_bf16: '>= 1.5',
      bf16_throughput_vs_ours_fp32: '>= 1.4',
      fp32_fraction_of_sgemm: '>= 0.8',
      eval_vs_train_step: '<= 0.4',
      lora_throughput_vs_full: '>= 1.3',
      lora_peak_rss_vs_full: '<= 0.7',
    },
    eval_cost: evalCost,
    profile: profiles,
    bench_seconds: (Date.now() - started) / 1000,
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileAtomic(join('bench-results', 'train.json'), JSON.stringify(result, null, 2) + '\n');
  const q = result.ratios;
  const line = (name: string, s: Summary | null): void => {
    if (s) console.log(`  ${name.padEnd(17)} ${s.tokens_per_s.toFixed(0).padStart(6)} tok/s  (${s.step_s.toFixed(2)} s/step, ${s.step_cpu_s.toFixed(2)} CPU s/step)  peak RSS ${s.peak_rss_mb.toFixed(0)} MB`);
  };
  const x = (v: number | null): string => (v === null ? '-' : `x${v.toFixed(2)}`);
  line('ours fp32', ours_fp32);
  line('ours bf16', ours_bf16);
  line('pytorch fp32', torch_fp32);
  line('pytorch bf16 ac', torch_bf16);
  line('ours LoRA fp32', ours_lora_fp32);
  line('ours LoRA bf16', ours_lora_bf16);
  line('pytorch LoRA fp32', torch_lora_fp32);
  line('ours fp32 own BLAS', ours_fp32_own_blas);
  line('ours LoRA fp32 own', ours_lora_fp32_own_blas);
  console.log(`  bf16 vs pytorch bf16 autocast ${x(q.bf16_throughput_vs_torch_bf16)} (target >= 1.5); bf16 vs our fp32 ` +
    `${x(q.bf16_throughput_vs_ours_fp32)} (target >= 1.4); our fp32 step ${fp32Gflops === null ? '-' : fp32Gflops.toFixed(1)} GFLOP/s = ` +
    `${q.fp32_fraction_of_sgemm === null ? '-' : (100 * q.fp32_fraction_of_sgemm).toFixed(1)}% of sgemm ${sgemm.gflops.toFixed(1)} (target >= 80%)`);
  console.log(`  throughput vs torch: fp32 ${x(q.fp32_throughput_vs_torch)}, bf16 ${x(q.bf16_throughput_vs_torch)} (target >= 1.5); ` +
    `peak RSS vs torch: fp32 ${x(q.fp32_peak_rss_vs_torch)}, bf16 ${x(q.bf16_peak_rss_vs_torch)} (target <= 0.6); ` +
    `CPU seconds per step, torch / ours: fp32 ${x(q.fp32_cpu_per_token_vs_torch)}, bf16 ${x(q.bf16_cpu_per_token_vs_torch)}`);
  console.log(`  LoRA vs full fine-tuning: throughput fp32 ${x(q.lora_fp32_throughput_vs_full)}, bf16 ${x(q.lora_bf16_throughput_vs_full)} (target >= 1.3); ` +
    `peak RSS fp32 ${x(q.lora_fp32_peak_rss_vs_full)}, bf16 ${x(q.lora_bf16_peak_rss_vs_full)} (target <= 0.7); vs PyTorch LoRA: throughput ${x(q.lora_fp32_throughput_vs_torch_lora)}, peak RSS ${x(q.lora_fp32_peak_rss_vs_torch_lora)}`);
  const own = result.own_blas;
  if (own) {
    console.log(`  OpenBLAS: ${BLAS.core} here (OPENBLAS_CORETYPE=${BLAS.forced_by_env}); its own choice ${own.core}: sgemm ${own.sgemm?.gflops.toFixed(1) ?? '-'} GFLOP/s, ` +
      `our fp32 step ${own.ratios.fp32_fraction_of_sgemm === null ? '-' : (100 * own.ratios.fp32_fraction_of_sgemm).toFixed(1)}% of it, LoRA vs full fp32 throughput ${x(own.ratios.lora_fp32_throughput_vs_full)}, ` +
      `peak RSS ${x(own.ratios.lora_fp32_peak_rss_vs_full)}`);
  }
  if (evalCost) {
    const cost = (c: typeof evalCost.fp32): string => `wall x${c.ratio.toFixed(2)} (${c.eval_s.toFixed(2)} s / ${c.step_s.toFixed(2)} s), CPU x${c.cpu_ratio.toFixed(2)}`;
    console.log(`  eval of a step's tokens vs the training step (target <= 0.4): fp32 ${cost(evalCost.fp32)}; bf16 ${cost(evalCost.bf16)}`);
  }
  console.log(`  load average (1 min) ${result.load_average_1m.min.toFixed(2)}-${result.load_average_1m.max.toFixed(2)}; ${result.bench_seconds.toFixed(0)} s -> bench-results/train.json`);
}

try {
  main();
} catch (e) {
  console.error(`bench:train: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
