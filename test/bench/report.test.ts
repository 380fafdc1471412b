// docs/benchmarks.md generation (src/bench/report.ts) and the `npm run bench` runner
// (src/bench/all.ts), on synthetic results in a temp dir: the doc's numbers are the files'
// numbers, every section carries date/machine/threads/load/command and names its peer with the
// version the run recorded, collectives use each op's bus-bandwidth factor, data shows both
// sides at 1 and 2 threads, profile shares add up to 100%, a known benchmark with no result
// is listed as not available, a broken result file is one clear error that names the file and
// key and leaves the old doc alone, and a benchmark that writes no result fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { busBandwidthGBps, busFactor } from '../../src/bench/busbw.js';
import { BENCH_CONFIG, BENCH_SHAPE } from '../../src/bench/core_config.js';
import { benchCommand } from '../../src/bench/env.js';
import { makeTmpDir } from '../helpers/tmp.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPORT = join(ROOT, 'dist/bench/report.js');
const ALL = join(ROOT, 'dist/bench/all.js');

// A version no real torch has: the page must print what the result file recorded, not a constant.
const TORCH = '1.13.0-test';
const SPM = '0.1.97-test';

/** One side of a train result: 4096 tokens per step at `tps`; `rounds` rounds, each a second longer than the last. */
function trainSide(tps: number, rss: number, rounds = 2): Record<string, unknown> {
  const step = 4096 / tps;
  return { step_s: step, tokens_per_s: tps, peak_rss_mb: rss, step_s_samples: Array.from({ length: rounds }, (_, i) => step + i), step_cpu_s: 8192 / tps };
}

/** Per-op profile of one precision: 2 steps, 10 s of wall time. */
function profileOf(): Record<string, unknown> {
  // self times: engine.adamw/adamw is inside engine.adamw and not counted in it again
  return { steps: 2, step_wall_s: 10, rows: [{ op: 'linearBackward', calls: 40, seconds: 6 }, { op: 'engine.adamw/adamw', calls: 46, seconds: 0.8 }, { op: 'engine.adamw', calls: 2, seconds: 0.2 }] };
}

/** A complete bench:train result, every ratio the one its sides give. */
function trainResult(): Record<string, unknown> {
  return {
    bench: 'train',
    date: '2026-11-27T08:00:00.000Z',
    command: 'BENCH_REPEATS=3 npm run bench:train',
    machine: { cpu: 'Test CPU 9000', cores: 2, threads: 2 },
    load_average_1m: { min: 1.5, median: 2, max: 2.5, at_end: 2 },
    timing: '(wall(2 steps) - wall(1 steps)) / 1 per process, median of 3 alternating rounds',
    peer: { torch: TORCH, threads: 2, dtype: 'float32' },
    config: BENCH_CONFIG,
    shape: BENCH_SHAPE,
    ours_fp32: trainSide(1024, 600),
    ours_bf16: trainSide(512, 500),
    torch_fp32: trainSide(512, 2000),
    torch_bf16: trainSide(256, 1500),
    ours_lora_fp32: trainSide(1536, 420),
    ours_lora_bf16: trainSide(768, 300),
    torch_lora_fp32: trainSide(512, 1800),
    lora: { r: 16, alpha: 32, targets: 'every block projection (all-linear)' },
    bf16_gemm_path: 'onednn brg:avx512_core_bf16 (test)',
    attention_tile_path: 'fp32 on vfmadd tiles, bf16 on vdpbf16ps tiles (test)',
    lora_tile_path: 'fp32 on vfmadd tiles (test)',
    blas: { core: 'Cooperlake', config: 'OpenBLAS test', forced_by_env: null },
    own_blas: null,
    ours_fp32_gflops: 150,
    sgemm: { gflops: 200, samples: [200] },
    ratios: {
      fp32_throughput_vs_torch: 2, bf16_throughput_vs_torch: 1, fp32_peak_rss_vs_torch: 0.3, bf16_peak_rss_vs_torch: 0.25, fp32_cpu_per_token_vs_torch: 2, bf16_cpu_per_token_vs_torch: 1,
      bf16_throughput_vs_torch_bf16: 2, bf16_throughput_vs_ours_fp32: 0.5, fp32_fraction_of_sgemm: 0.75,
      lora_fp32_throughput_vs_full: 1.5, lora_bf16_throughput_vs_full: 1.5, lora_fp32_peak_rss_vs_full: 0.7, lora_bf16_peak_rss_vs_full: 0.6,
      lora_fp32_throughput_vs_torch_lora: 3, lora_fp32_peak_rss_vs_torch_lora: 420 / 1800,
    },
    targets: {
      throughput_vs_torch: '>= 1.5', peak_rss_vs_torch: '<= 0.6', bf16_throughput_vs_torch_bf16: '>= 1.5', bf16_throughput_vs_ours_fp32: '>= 1.4',
      fp32_fraction_of_sgemm: '>= 0.8', eval_vs_train_step: '<= 0.4', lora_throughput_vs_full: '>= 1.3', lora_peak_rss_vs_full: '<= 0.7',
    },
    eval_cost: {
      fp32: { eval_s: 1.2, step_s: 4, ratio: 0.3, eval_cpu_s: 2.4, step_cpu_s: 8, cpu_ratio: 0.3 },
      bf16: { eval_s: 2.4, step_s: 8, ratio: 0.3, eval_cpu_s: 4.8, step_cpu_s: 16, cpu_ratio: 0.3 },
    },
    profile: { fp32: profileOf(), bf16: profileOf(), lora_fp32: profileOf(), lora_bf16: profileOf() },
  };
}

function coreResult(): Record<string, unknown> {
  return {
    bench: 'core', date: '2026-11-27T08:00:00.000Z', machine: { cpu: 'Test CPU 9000', cores: 2, threads: 2 },
    load_average_1m: { min: 1, median: 1.5, max: 2, samples: [1, 1.5, 2] }, iters: 5, rounds: 3,
    timing: 'median of 5 iterations per launch (after one warm-up); best of 3 alternating launches per side',
    config: BENCH_CONFIG, shape: BENCH_SHAPE,
    ours: { side: 'telechat-train', threads: 2, step_s: 2, tokens_per_s: 2048, peak_rss_mb: 900, gflops: 150, sgemm_gflops: 200, step_s_per_round: [2.5, 2, 2.2] },
    torch: { side: 'pytorch-eager', threads: 2, torch: TORCH, step_s: 4, tokens_per_s: 1024, peak_rss_mb: 2700, step_s_per_round: [4, 4.5, 4.1] },
    ratios: { throughput_vs_torch: 2, peak_rss_vs_torch: 1 / 3, fraction_of_sgemm: 0.75 },
  };
}

function dataResult(): Record<string, unknown> {
  const side = (seconds: number, cpu: number, rss: number) => ({ seconds, tokens_per_s: 4e6 / seconds, cpu_s: cpu, max_rss_mb: rss, seconds_per_round: [seconds, seconds + 1] });
  return {
    bench: 'data', date: '2026-11-27T08:00:00.000Z', machine: { cpu: 'Test CPU 9000', cores: 2 },
    load_average_1m: { min: 1, median: 1, max: 1, samples: [1] }, input_mb: 10, repeats: 2, tokens: 4000000,
    peer: { sentencepiece: SPM, python: '/usr/bin/python3' }, timing: 'best of 2 alternating runs per side and thread count',
    by_threads: [
      { threads: 1, ours: side(2, 2.5, 250), python_sentencepiece: side(3, 3, 40), ratio_tokens_per_s: 1.5 },
      { threads: 2, ours: side(1, 2.6, 260), python_sentencepiece: side(2, 3.2, 41), ratio_tokens_per_s: 2 },
    ],
    targets: { ratio: '>= 1.0', max_rss_mb: '< 600' },
  };
}

function zeroResult(): Record<string, unknown> {
  const row = (side: string, step: number, vs: number) => ({ side, ranks: 2, step_s: step, tokens_per_s: 4096 / step, peak_rss_mb: [700, 710], step_s_per_round: [step, step + 0.5], throughput_vs_ddp: vs, peak_rss_vs_ddp: 0.5 });
  return {
    bench: 'zero', date: '2026-11-27T08:00:00.000Z', machine: { cpu: 'Test CPU 9000', cores: 2, load_1min_before: 1, load_1min_after: 2 },
    load_average_1m: { min: 1, median: 1.5, max: 2, samples: [1, 2] }, ranks: 2, threads_per_rank: 1, steps: 2, rounds: 3,
    timing: 'best of 2 timed steps per launch (after one warm-up); best of 3 launches per side, order rotated every round',
    peer: { torch: TORCH, threads_per_rank: 1, dtype: 'float32', backend: 'gloo' },
    config: BENCH_CONFIG, batch: BENCH_SHAPE,
    rows: [row('pytorch ddp', 4, 1), row('pytorch zero1', 4, 1), row('telechat-train zero0', 2, 2), row('telechat-train zero1', 2, 2),
      row('telechat-train zero2', 2, 2), row('telechat-train zero3', 2, 2)],
  };
}

type CommOp = 'allReduce' | 'reduceScatter' | 'allGather' | 'broadcast';
function commRow(op: CommOp, torchRan: CommOp, oursS: number, torchS: number): Record<string, unknown> {
  return { op, ours_ran: op, torch_ran: torchRan, ranks: 4, mb: 1000, bytes: 1e9, ours_s: oursS, torch_s: torchS,
    ours_minflt_per_op: 0.2, torch_minflt_per_op: 12.6, ours_cpu_ms_per_op: 7.25, torch_cpu_ms_per_op: 8 };
}

function commResult(rows: Record<string, unknown>[]): Record<string, unknown> {
  return { bench: 'comm', date: '2026-11-27T08:00:00.000Z', machine: { cpu: 'Test CPU 9000', cores: 2 },
    load_average_1m: { min: 1, median: 2, max: 3, samples: [1, 2, 3] }, rounds: 2, peer: { torch: TORCH, backend: 'gloo', threads: '1' },
    ours_threads: '1', timing: 'best of 3-10 iterations (barrier, op, barrier) per launch and of 2 alternating launches per side', rows };
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

function writeResult(name: string, data: unknown): void {
  writeFileSync(join(tmp.dir, 'bench-results', `${name}.json`), JSON.stringify(data));
}

/** The doc after `npm run bench:report` succeeded. */
function report(): string {
  const res = node(REPORT);
  expect(res.status, res.stderr).toBe(0);
  return readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8');
}

/** The text of the `## ` section whose title contains `title`. */
function section(doc: string, title: string): string {
  const parts = doc.split('\n## ');
  const hit = parts.find((p) => p.split('\n')[0]!.includes(title));
  if (!hit) throw new Error(`no section ${title} in:\n${doc}`);
  return hit;
}

/** Shares (last cell, "12.3%") of the rows of the markdown table that follows `marker`. */
function sharesAfter(text: string, marker: string): number[] {
  const lines = text.slice(text.indexOf(marker)).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|---'));
  const rows: number[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('|')) break;
    rows.push(Number(l.split('|').at(-2)!.trim().replace('%', '')));
  }
  return rows;
}

describe('bench report', () => {
  it('renders each result with its provenance and lists missing benchmarks', () => {
    writeResult('train', trainResult());
    const doc = report();
    expect(doc).toContain('- date: 2026-11-27 08:00:00 UTC');
    expect(doc).toContain('- machine: 2 x Test CPU 9000');
    expect(doc).toContain('- threads: 2 per side');
    expect(doc).toContain('- load average: 1-min 1.50-2.50 during the run');
    expect(doc).toContain('- command: `BENCH_REPEATS=3 npm run bench:train`');
    expect(doc).toContain('| telechat-train fp32 | 1024 | 4.00 | 4.00, 5.00 | 8.00 | 600 |');
    expect(doc).toContain('| CPU seconds per step (torch / ours) | x2.00 | x1.00 |  |');
    expect(doc).toContain('| throughput | x2.00 | x1.00 | >= 1.5 |');
    expect(doc).toContain('| peak RSS | x0.30 | x0.25 | <= 0.6 |');
    // profile rows are self time per step (2 steps) with their share of the 10 s of wall time
    expect(doc).toContain('| linearBackward | 20 | 3000.0 | 60.0% |');
    expect(doc).toContain('| engine.adamw/adamw | 23 | 400.0 | 8.0% |');
    expect(doc).toContain('| engine.adamw | 1 | 100.0 | 2.0% |');
    expect(doc).toContain('| (not in a timed op: JS, batch upload) |  | 1500.0 | 30.0% |');
    // no package.json here: the other known benchmarks are not defined, and said to be not available
    for (const missing of ['core', 'comm', 'data', 'zero']) expect(doc).toContain(`Not available: package.json defines no bench:${missing} yet.`);
  });

  it('a benchmark package.json defines but with no result (a fresh checkout, one benchmark run alone) is refused, not dropped from the page', () => {
    writeFileSync(join(tmp.dir, 'package.json'), JSON.stringify({ scripts: { 'bench:core': 'x', 'bench:train': 'x', 'bench:report': 'x' } }));
    writeFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'old\n');
    writeResult('train', trainResult());
    let res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('bench:report: no result for bench:core (bench-results/core.json): the page would drop its section; run npm run bench:core (or npm run bench) first');
    rmSync(join(tmp.dir, 'bench-results', 'train.json'));
    res = node(REPORT);
    expect(res.stderr).toContain('no result for bench:core (bench-results/core.json), bench:train (bench-results/train.json): the page would drop their sections');
    expect(readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8')).toBe('old\n');
    // with both results the page is written (bench:report is a tool, not a benchmark)
    writeResult('core', coreResult());
    writeResult('train', trainResult());
    expect(report()).toContain('## Model forward + backward');
  });

  it('names the OpenBLAS kernels our fp32 ran on and, when the environment forced them, the rerun under OpenBLAS\'s own choice', () => {
    const forced = trainResult();
    forced.blas = { core: 'Haswell', config: 'OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell', forced_by_env: 'Haswell' };
    forced.own_blas = {
      core: 'Cooperlake', sgemm: { gflops: 400, samples: [400] }, ours_fp32: trainSide(2048, 600, 1), ours_lora_fp32: trainSide(2560, 420, 1), ours_fp32_gflops: 318.64,
      ratios: { fp32_fraction_of_sgemm: 318.64 / 400, lora_fp32_throughput_vs_full: 1.25, lora_fp32_peak_rss_vs_full: 0.7 },
    };
    // the bf16 and sgemm table of the main rows, with a fraction just under its target
    forced.ours_fp32_gflops = 199.9;
    forced.sgemm = { gflops: 250, samples: [250] };
    forced.ratios = { ...(forced.ratios as object), fp32_fraction_of_sgemm: 199.9 / 250 };
    writeResult('train', forced);
    const doc = report();
    expect(doc).toContain("- OpenBLAS: our fp32 linear products on its Haswell kernels, forced by OPENBLAS_CORETYPE=Haswell in this machine's environment (OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell)");
    expect(doc).toContain('| telechat-train LoRA fp32, OpenBLAS Cooperlake | 2560 | 1.60 | 1.60 | 3.20 | 420 |');
    // rounded toward a miss: 79.66% and 79.96% would both round to a met 80%
    expect(doc).toContain('| our fp32 step GFLOP/s (318.6) vs sgemm (400.0) | 79.6% | >= 80% |');
    expect(doc).toContain('| our fp32 step GFLOP/s (199.9) vs sgemm (250.0) | 79.9% | >= 80% |');
    expect(doc).toContain('| LoRA throughput vs our full fine-tuning step | x1.250 | >= 1.3 |');
    expect(doc).toContain('| LoRA peak RSS vs our full fine-tuning step | x0.700 | <= 0.7 |');
    // an at-most target rounds up: 0.70004 is not a met 0.700
    const ownBlas = forced.own_blas as { ours_lora_fp32: unknown; ratios: Record<string, number> };
    ownBlas.ours_lora_fp32 = trainSide(2048 * 1.29996, 600 * 0.70004, 1);
    ownBlas.ratios.lora_fp32_peak_rss_vs_full = 0.70004;
    ownBlas.ratios.lora_fp32_throughput_vs_full = 1.29996;
    writeResult('train', forced);
    const close = report();
    expect(close).toContain('| LoRA peak RSS vs our full fine-tuning step | x0.701 | <= 0.7 |');
    expect(close).toContain('| LoRA throughput vs our full fine-tuning step | x1.299 | >= 1.3 |');
    // OpenBLAS's own choice: said so, and no rerun table
    const own = trainResult();
    own.blas = { core: 'Cooperlake', config: 'OpenBLAS 0.3.21', forced_by_env: null };
    own.own_blas = null;
    writeResult('train', own);
    const plain = report();
    expect(plain).toContain("- OpenBLAS: our fp32 linear products on its Cooperlake kernels, its own choice for this CPU (OpenBLAS 0.3.21)");
    expect(plain).not.toContain('OPENBLAS_CORETYPE removed');
    // a name OpenBLAS does not know is not what ran (bench:train still reruns without it)
    own.blas = { core: 'Cooperlake', config: 'OpenBLAS 0.3.21', forced_by_env: 'Foo' };
    own.own_blas = forced.own_blas;
    writeResult('train', own);
    expect(report()).toContain('on its Cooperlake kernels, with OPENBLAS_CORETYPE=Foo in the environment, which OpenBLAS did not apply as given');
  });

  it("the bf16 paragraph says where bf16 products ran, from the paths the run recorded", () => {
    const onednn = trainResult();
    writeResult('train', onednn);
    expect(report()).toContain("Linear products run on oneDNN's bf16 matmul (onednn brg:avx512_core_bf16 (test)); attention tiles on vdpbf16ps");
    const widened = trainResult();
    widened.bf16_gemm_path = 'fallback: the CPU has no AVX512-BF16 or AMX (test)';
    widened.attention_tile_path = 'fp32 on vfmadd (AVX2), bf16 and fp16 widened to fp32 on it (test)';
    writeResult('train', widened);
    expect(report()).toContain('every bf16 linear product widens its operand blocks to fp32 for sgemm and rounds its output back, ' +
      'and attention tiles widen to fp32 for our vfmadd kernel, so on CPU bf16 buys memory, not speed.');
    widened.attention_tile_path = 'sgemm: built for a CPU without AVX-512 or AVX2 with FMA (test)';
    writeResult('train', widened);
    expect(report()).toContain('and attention tiles widen to fp32 for sgemm, so on CPU bf16 buys memory');
  });

  it('every section names its peer exactly, with the version and build the result recorded', () => {
    const core = coreResult();
    (core.torch as Record<string, unknown>).build = { blas_info: 'generic', mkl: false, mkldnn: true, cpu_capability: 'AVX2',
      blas_loaded: ['libblas.so.3', 'libopenblasp-r0.3.21.so'], openblas_coretype: 'Haswell' };
    writeResult('core', core);
    writeResult('train', trainResult());
    writeResult('comm', commResult([commRow('allReduce', 'allReduce', 1, 1)]));
    writeResult('data', dataResult());
    writeResult('zero', zeroResult());
    const doc = report();
    for (const title of ['bench:core', 'bench:train', 'bench:zero']) {
      const text = section(doc, title);
      expect(text, title).toContain(`**Peer:** PyTorch ${TORCH} (torch.__version__ at run time; `);
      expect(text, title).toContain('), eager autograd, fp32,');
      expect(text, title).toContain('the full [B, heads, T, T] score matrix materialised');
      expect(text, title).toContain('This is not the strongest PyTorch');
      expect(text, title).toMatch(/- threads: \d/);
    }
    expect(section(doc, 'bench:core')).toContain('2 intra-op thread(s)');
    // torch.__version__ does not say which BLAS its fp32 matmuls ran on: the recorded build does
    expect(section(doc, 'bench:core')).toContain('(torch.__version__ at run time; built with BLAS_INFO=generic, MKL off, oneDNN on, CPU capability AVX2; ' +
      'BLAS libraries loaded: libblas.so.3, libopenblasp-r0.3.21.so (OPENBLAS_CORETYPE=Haswell in its environment too))');
    // results from before the build was recorded say so
    for (const title of ['bench:train', 'bench:zero']) expect(section(doc, title)).toContain('its build (BLAS, CPU capability) not recorded by this run');
    expect(section(doc, 'bench:core')).toContain(`| PyTorch ${TORCH} eager | 1024 | 4.000 | 4.000, 4.500, 4.100 | 2700 |  |`);
    expect(section(doc, 'bench:core')).toContain('best of 3 alternating launches per side');
    expect(section(doc, 'bench:zero')).toContain('1 intra-op thread per rank');
    expect(section(doc, 'bench:zero')).toContain('| telechat-train zero3 | 2.00 | 2.00, 2.50 | 2048 | x2.00 | 700 / 710 |');
    expect(section(doc, 'bench:zero')).toContain(`| PyTorch ${TORCH} DDP + AdamW | 4.00 | 4.00, 4.50 | 1024 | x1.00 | 700 / 710 |`);
    expect(section(doc, 'bench:comm')).toContain('fp32 buffers of 1000 MB on 4 ranks over 127.0.0.1');
    expect(section(doc, 'bench:comm')).toContain(`**Peer:** PyTorch ${TORCH} (torch.__version__ at run time) torch.distributed, backend gloo, 1 intra-op thread(s) per rank`);
    expect(section(doc, 'bench:data')).toContain(`**Peer:** Python sentencepiece ${SPM} (its __version__ at run time)`);
    expect(section(doc, 'bench:train')).toContain(`| PyTorch ${TORCH} eager fp32 | 512 |`);
    expect(doc).not.toMatch(/pytorch (eager|ddp|zero1)/i); // no unversioned PyTorch label anywhere
  });

  it('collectives: bus bandwidth uses the factor of the op each side ran; the ratio is time for the same result', () => {
    // 4 ranks, 1e9-byte buffers, ours 1 s each: busbw = factor GB/s (allReduce 2*3/4, reduceScatter
    // and allGather 3/4, broadcast 1). Torch's reduceScatter is an all_reduce taking 2 s: rated
    // 1.5 / 2 = 0.75 GB/s as the all_reduce it is, and 2x our time for the same reduced shard.
    writeResult('comm', commResult([
      commRow('allReduce', 'allReduce', 1, 1),
      commRow('reduceScatter', 'allReduce', 1, 2),
      commRow('allGather', 'allGather', 1, 0.5),
      commRow('broadcast', 'broadcast', 1, 4),
    ]));
    const text = section(report(), 'bench:comm');
    expect(text).toContain('| op | ranks | MB | torch ran | ours busbw GB/s | torch busbw GB/s | time ratio torch / ours | page faults/op ours / torch | CPU ms/op ours / torch |');
    expect(text).toContain('| allReduce | 4 | 1000 | all_reduce | 1.50 | 1.50 | 1.00 | 0 / 13 | 7.3 / 8.0 |');
    expect(text).toContain('| reduceScatter | 4 | 1000 | all_reduce (gloo has no reduce_scatter) | 0.75 | 0.75 | 2.00 |');
    expect(text).toContain('| allGather | 4 | 1000 | all_gather | 0.75 | 1.50 | 0.50 |');
    expect(text).toContain('| broadcast | 4 | 1000 | broadcast | 1.00 | 0.25 | 4.00 |');
    expect(text).toContain('allReduce 2(n-1)/n, reduceScatter and allGather (n-1)/n, broadcast 1');
    expect(text).toContain('torch seconds / our seconds for the same result');
    expect(text).toContain('- load average: 1-min 1.00-3.00 during the run');
  });

  it('bus-bandwidth factors per op (nccl-tests)', () => {
    expect(busFactor('allReduce', 4)).toBe(1.5);
    expect(busFactor('allReduce', 2)).toBe(1);
    expect(busFactor('reduceScatter', 4)).toBe(0.75);
    expect(busFactor('allGather', 2)).toBe(0.5);
    expect(busFactor('broadcast', 8)).toBe(1);
    expect(busBandwidthGBps('allReduce', 4, 2e9, 2)).toBe(1.5);
    expect(() => busFactor('gather' as never, 2)).toThrow(/unknown collective "gather"/);
  });

  it('export: one row per export and the RSS growth against the model growth', () => {
    const run = (layers: number, dtype: string, mb: number, rss: number) => ({ layers, dtype, model_mb: mb, seconds: 2, in_mb_per_s: mb / 2, out_mb: mb / 2, max_rss_mb: rss });
    writeResult('export', { hidden: 64, runs: [run(4, 'fp16', 100, 150), run(16, 'fp16', 400, 153)], model_size_ratio: 4, rss_ratio: { fp16: 1.02 } });
    const text = section(report(), 'bench:export');
    expect(text).toContain('| blocks | dtype | HF MB | GGUF MB | seconds | MB/s read | peak RSS MB |');
    expect(text).toContain('| 16 | fp16 | 400.0 | 200.0 | 2.00 | 200 | 153 |');
    expect(text).toContain('Model x4.00 larger -> peak RSS x1.02 (fp16)');
  });

  it('data: both sides at 1 and 2 threads, each with its best time, rounds, CPU seconds and ratio', () => {
    writeResult('data', dataResult());
    const text = section(report(), 'bench:data');
    expect(text).toContain('- threads: 1 and 2 encoding threads, both sides');
    expect(text).toContain('| threads | side | M tokens/s | seconds (best) | seconds per round | CPU s | peak RSS MB |');
    expect(text).toContain('| 1 | telechat-data build | 2.00 | 2.0 | 2.0, 3.0 | 2.5 | 250 |');
    expect(text).toContain(`| 1 | Python sentencepiece ${SPM} | 1.33 | 3.0 | 3.0, 4.0 | 3.0 | 40 |`);
    expect(text).toContain('| 2 | telechat-data build | 4.00 | 1.0 | 1.0, 2.0 | 2.6 | 260 |');
    expect(text).toContain(`| 2 | Python sentencepiece ${SPM} | 2.00 | 2.0 | 2.0, 3.0 | 3.2 | 41 |`);
    expect(text).toContain('Ratio (Python seconds / ours): 1 thread(s) x1.50, 2 thread(s) x2.00 (target >= 1.0)');
  });

  it('profile shares (self time plus the untimed rest) sum to 100%; rows adding up past the wall time are refused', () => {
    writeResult('train', trainResult());
    const shares = sharesAfter(report(), '**fp32**');
    expect(shares).toHaveLength(4);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 6);
    // inclusive times (engine.adamw counting its adamw again) exceed the wall time: one clear error
    const bad = trainResult();
    const fp32 = (bad.profile as { fp32: { rows: { op: string; seconds: number }[] } }).fp32;
    fp32.rows = [{ op: 'linearBackward', seconds: 9 }, { op: 'adamw', seconds: 0.8 }, { op: 'engine.adamw', seconds: 1 }].map((r) => ({ ...r, calls: 1 }));
    writeResult('train', bad);
    const res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('bench-results/train.json: profile.fp32.rows add up to 10.800 s, more than the 10.000 s of wall time');
  });

  it('every ratio set beside a target is rounded toward missing it, not to the nearest (a 1.4996 is not a met x1.50)', () => {
    // each ratio sits just on the missing side of its target; nearest rounding would print it as met
    const core = coreResult();
    Object.assign(core.ours as object, { tokens_per_s: 1499.6, peak_rss_mb: 600.4, gflops: 119.92, sgemm_gflops: 200 });
    Object.assign(core.torch as object, { tokens_per_s: 1000, peak_rss_mb: 1000 });
    core.ratios = { throughput_vs_torch: 1.4996, peak_rss_vs_torch: 0.6004, fraction_of_sgemm: 0.5996 };
    writeResult('core', core);
    const train = trainResult();
    train.ours_fp32 = trainSide(1499.6, 600.4);
    train.ours_bf16 = trainSide(2000, 300);
    train.torch_fp32 = trainSide(1000, 1000);
    train.torch_bf16 = trainSide(2000 / 1.4996, 900);
    train.ours_lora_fp32 = trainSide(1499.6 * 1.5, 600.4 * 0.7);
    train.ours_lora_bf16 = trainSide(2000 * 1.5, 300 * 0.7);
    train.torch_lora_fp32 = trainSide(1499.6 * 1.5 / 3, 1800);
    train.ratios = {
      lora_fp32_throughput_vs_full: 1.5, lora_bf16_throughput_vs_full: 1.5, lora_fp32_peak_rss_vs_full: 0.7, lora_bf16_peak_rss_vs_full: 0.7,
      lora_fp32_throughput_vs_torch_lora: 3, lora_fp32_peak_rss_vs_torch_lora: 600.4 * 0.7 / 1800,
      fp32_throughput_vs_torch: 1.4996, bf16_throughput_vs_torch: 2, fp32_peak_rss_vs_torch: 0.6004, bf16_peak_rss_vs_torch: 0.3,
      fp32_cpu_per_token_vs_torch: 1.4996, bf16_cpu_per_token_vs_torch: 2,
      bf16_throughput_vs_torch_bf16: 1.4996, bf16_throughput_vs_ours_fp32: 2000 / 1499.6, fp32_fraction_of_sgemm: 0.5996,
    };
    train.ours_fp32_gflops = 119.92;
    train.sgemm = { gflops: 200, samples: [200] };
    train.eval_cost = {
      fp32: { eval_s: 0.4004, step_s: 1, ratio: 0.4004, eval_cpu_s: 0.8, step_cpu_s: 2, cpu_ratio: 0.4 },
      bf16: { eval_s: 0.3, step_s: 1, ratio: 0.3, eval_cpu_s: 0.6, step_cpu_s: 2, cpu_ratio: 0.3 },
    };
    writeResult('train', train);
    writeResult('comm', commResult([commRow('allReduce', 'allReduce', 1, 0.8996)]));
    const data = dataResult();
    const py = (data.by_threads as Record<string, unknown>[])[1]!;
    py.python_sentencepiece = { ...(py.python_sentencepiece as object), seconds: 0.996, tokens_per_s: 4e6 / 0.996 };
    py.ratio_tokens_per_s = 0.996;
    writeResult('data', data);
    const zero = zeroResult();
    const z = zero.rows as Record<string, unknown>[];
    Object.assign(z[5]!, { step_s: 4 / 0.7996, step_s_per_round: [4 / 0.7996, 4 / 0.7996 + 0.5], tokens_per_s: 1024 * 0.7996, throughput_vs_ddp: 0.7996 });
    writeResult('zero', zero);
    const run = (layers: number, mb: number, rss: number) => ({ layers, dtype: 'fp16', model_mb: mb, seconds: 2, in_mb_per_s: mb / 2, out_mb: mb / 2, max_rss_mb: rss });
    writeResult('export', { hidden: 64, runs: [run(4, 100, 150), run(16, 400, 150.6)], model_size_ratio: 4, rss_ratio: { fp16: 1.004 } });
    const doc = report();
    expect(section(doc, 'bench:core')).toContain('Throughput x1.49 PyTorch (target >= 1.5), peak RSS x0.61 (target <= 0.6), 59.9% of the measured sgemm 200.0 GFLOP/s (target >= 60%).');
    const t = section(doc, 'bench:train');
    expect(t).toContain('| throughput | x1.49 | x2.00 | >= 1.5 |');
    expect(t).toContain('| peak RSS | x0.61 | x0.30 | <= 0.6 |');
    expect(t).toContain('| bf16 throughput vs PyTorch bf16 autocast | x1.49 | >= 1.5 |');
    expect(t).toContain('| bf16 throughput vs our fp32 | x1.33 | >= 1.4 |');
    expect(t).toContain('| our fp32 step GFLOP/s (119.9) vs sgemm (200.0) | 59.9% | >= 80% |');
    expect(t).toContain('| wall time | x0.41 | x0.30 | <= 0.4 |');
    expect(section(doc, 'bench:comm')).toContain('| allReduce | 4 | 1000 | all_reduce | 1.50 | 1.67 | 0.89 |');
    expect(section(doc, 'bench:data')).toContain('2 thread(s) x0.99 (target >= 1.0)');
    expect(section(doc, 'bench:zero')).toContain('| telechat-train zero3 | 5.00 | 5.00, 5.50 | 819 | x0.79 | 700 / 710 |');
    expect(section(doc, 'bench:export')).toContain('peak RSS x1.01 (fp16)');
    expect(doc).toContain('Every ratio set beside a target is rounded toward missing it');
    expect(doc).toContain('The generator refuses, leaving this page as it was, a benchmark with no');
  });

  it('a ratio the wrong way round (or not from the values shown beside it) is refused, naming the key', () => {
    const refused = (name: string, data: unknown, message: string) => {
      writeResult(name, data);
      const res = node(REPORT);
      expect(res.status, name).toBe(1);
      expect(res.stderr, name).toContain(message);
      rmSync(join(tmp.dir, 'bench-results', `${name}.json`));
    };
    // core: ours 2048 tokens/s against torch 1024, written as torch / ours
    const core = coreResult();
    (core.ratios as Record<string, number>).throughput_vs_torch = 0.5;
    refused('core', core, 'bench-results/core.json: ratios.throughput_vs_torch is 0.5, but ours.tokens_per_s / torch.tokens_per_s is 2');
    // train: peak RSS torch / ours (2000 / 600) where ours / torch is meant
    const train = trainResult();
    (train.ratios as Record<string, number>).fp32_peak_rss_vs_torch = 2000 / 600;
    refused('train', train, 'bench-results/train.json: ratios.fp32_peak_rss_vs_torch is 3.3333333333333335, but ours_fp32.peak_rss_mb / torch_fp32.peak_rss_mb is 0.3');
    // train: the CPU row is torch / ours; ours / torch is refused
    const cpu = trainResult();
    (cpu.ratios as Record<string, number>).fp32_cpu_per_token_vs_torch = 0.5;
    refused('train', cpu, 'ratios.fp32_cpu_per_token_vs_torch is 0.5, but torch_fp32.step_cpu_s / ours_fp32.step_cpu_s is 2');
    // data: ours seconds / Python seconds (a speed-up below 1 shown for a side that is faster)
    const data = dataResult();
    (data.by_threads as Record<string, unknown>[])[0]!.ratio_tokens_per_s = 2 / 3;
    refused('data', data, 'by_threads.0.ratio_tokens_per_s is 0.6666666666666666, but by_threads.0.python_sentencepiece.seconds / by_threads.0.ours.seconds is 1.5');
    // zero: DDP / ours
    const zero = zeroResult();
    (zero.rows as Record<string, unknown>[])[5]!.throughput_vs_ddp = 0.5;
    refused('zero', zero, 'rows.5.throughput_vs_ddp is 0.5, but rows.5.tokens_per_s / rows.0.tokens_per_s is 2');
    // export: small / large
    const run = (layers: number, mb: number, rss: number) => ({ layers, dtype: 'fp16', model_mb: mb, seconds: 2, in_mb_per_s: mb / 2, out_mb: mb / 2, max_rss_mb: rss });
    refused('export', { hidden: 64, runs: [run(4, 100, 150), run(16, 400, 300)], model_size_ratio: 4, rss_ratio: { fp16: 0.5 } },
      'rss_ratio.fp16 is 0.5, but runs.1.max_rss_mb / runs.0.max_rss_mb is 2');
  });

  it('train: a run that skipped a part, or a file from an older harness, is refused instead of losing rows and their targets', () => {
    writeResult('train', trainResult());
    const full = section(report(), 'bench:train');
    // the complete result shows every side and every target table
    for (const text of ['| PyTorch 1.13.0-test eager bf16 autocast |', '| telechat-train LoRA bf16 |', '| PyTorch 1.13.0-test eager LoRA fp32 |',
      '| bf16 throughput vs PyTorch bf16 autocast | x2.00 | >= 1.5 |', '| wall time | x0.30 | x0.30 | <= 0.4 |',
      '| throughput vs our full fine-tuning step | x1.500 | x1.500 | >= 1.3 |', '**LoRA bf16**']) expect(full).toContain(text);
    // how the eval-cost times were taken: as the run says, or, for a result from before it said, how they were taken then
    expect(full).toContain('the upper middle of every call including the first (warm-up) step and evaluation');
    const timed = trainResult();
    (timed.eval_cost as Record<string, unknown>).timing = 'in-process medians, of 3 steps after the warm-up step and of 4 evaluations after a warm-up one';
    writeResult('train', timed);
    expect(section(report(), 'bench:train')).toContain("against the same process's training step: in-process medians, of 3 steps after the warm-up step and of 4 evaluations after a warm-up one.");
    const cases: Array<[string, (t: Record<string, unknown>) => void, string]> = [
      ['BENCH_EVAL=0', (t) => { t.eval_cost = null; }, 'bench-results/train.json: eval_cost is null (the run had BENCH_EVAL=0): it holds the evaluation-cost measurement (target: evaluation <= 0.4x a training step), and the page would drop those rows'],
      ['BENCH_PROFILE=0', (t) => { t.profile = null; }, 'profile is null (the run had BENCH_PROFILE=0): it holds the per-op profile'],
      ['an older file without the bf16 autocast side', (t) => { delete t.torch_bf16; }, 'torch_bf16 is missing (written by an older bench:train): it holds the PyTorch bf16 autocast side'],
      ['BENCH_SIDES without LoRA', (t) => { t.ours_lora_bf16 = null; }, 'ours_lora_bf16 is null (the run had BENCH_SIDES without it): it holds a LoRA side'],
      ['a forced OpenBLAS core without the rerun', (t) => { t.blas = { core: 'Haswell', config: 'OpenBLAS test', forced_by_env: 'Haswell' }; },
        'own_blas is missing or null although OPENBLAS_CORETYPE=Haswell forced the kernels'],
      // the bf16 paragraph would otherwise claim the CPU has no bf16 unit
      ['no recorded bf16 GEMM path', (t) => { delete t.bf16_gemm_path; }, 'missing key bf16_gemm_path'],
    ];
    for (const [what, change, message] of cases) {
      const t = trainResult();
      change(t);
      writeResult('train', t);
      const res = node(REPORT);
      expect(res.status, what).toBe(1);
      expect(res.stderr, what).toContain(message);
    }
  });

  it('the command is the one recorded, never made up: a result without one says so', () => {
    // core.json written by a direct run before results recorded their command (e.g. with BENCH_ROUNDS=1)
    writeResult('core', coreResult());
    const core = section(report(), 'bench:core');
    expect(core).toContain('- command: not recorded (the result file predates recorded commands; rerun to record it)');
    expect(core).not.toContain('- command: `npm run bench:core`');
    writeResult('core', { ...coreResult(), command: 'BENCH_ROUNDS=1 npm run bench:core' });
    expect(section(report(), 'bench:core')).toContain('- command: `BENCH_ROUNDS=1 npm run bench:core`');
  });

  it('benchCommand: every BENCH_* variable in effect and TELECHAT_PYTHON, so a direct run records what it ran with', () => {
    const env = { BENCH_REPEATS: '5', BENCH_EVAL: '0', BENCH_ONLY: 'train', TELECHAT_PYTHON: '/opt/py', OMP_NUM_THREADS: '8', PATH: '/bin' };
    expect(benchCommand('train', env)).toBe('BENCH_EVAL=0 BENCH_REPEATS=5 TELECHAT_PYTHON=/opt/py npm run bench:train');
    expect(benchCommand('core', {})).toBe('npm run bench:core');
  });

  it('the bench model and batch on the page are the result\'s; a result of another model or batch (stale) is refused', () => {
    writeResult('core', coreResult());
    expect(section(report(), 'bench:core')).toContain('of the bench model (4 layers, hidden 512, 8 heads, ffn 1376, vocab 8192; batch 4 x 1024, fp32');
    const refused = (name: string, data: unknown, message: string) => {
      writeResult(name, data);
      const res = node(REPORT);
      expect(res.status, message).toBe(1);
      expect(res.stderr, message).toContain(message);
      rmSync(join(tmp.dir, 'bench-results', `${name}.json`));
    };
    refused('core', { ...coreResult(), config: { ...BENCH_CONFIG, hidden_size: 256 } },
      'bench-results/core.json: config.hidden_size is 256, the bench model of src/bench/core_config.ts has 512: a result of another model (stale)');
    refused('train', { ...trainResult(), shape: { batch: 8, seqLen: 512 } }, 'bench-results/train.json: measured on a batch of 8 x 512, the harness\'s BENCH_SHAPE is 4 x 1024 (stale)');
    refused('zero', { ...zeroResult(), config: { ...BENCH_CONFIG, n_layer: 2 } }, 'config.n_layer is 2');
    // a core.json from before it recorded its shape: the tokens per step it measured must be BENCH_SHAPE's
    const old = coreResult();
    delete old.shape;
    writeResult('core', old);
    expect(section(report(), 'bench:core')).toContain('batch 4 x 1024, fp32');
    refused('core', { ...old, ours: { ...(old.ours as object), step_s: 1 } }, 'bench-results/core.json: no shape, and its 2048 tokens per step are not BENCH_SHAPE\'s');
  });

  it('zero: a result without one of the six sides (or with one twice) is refused, not rendered without it', () => {
    const zero = zeroResult();
    zero.rows = (zero.rows as Record<string, unknown>[]).filter((x) => x.side !== 'telechat-train zero3');
    writeResult('zero', zero);
    let res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('bench-results/zero.json: no "telechat-train zero3" row; bench:zero writes one for each of pytorch ddp, pytorch zero1, telechat-train zero0');
    const twice = zeroResult();
    (twice.rows as Record<string, unknown>[]).push((twice.rows as Record<string, unknown>[])[0]!);
    writeResult('zero', twice);
    res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('2 "pytorch ddp" rows');
  });

  it('the page is written through a temp file and a rename, never over the old one in place', () => {
    // a hard link to the old page keeps its content only if the new page is a new file renamed in
    // place: an in-place write (a crash halfway leaves half a page) would change it too
    writeFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'old\n');
    linkSync(join(tmp.dir, 'docs', 'benchmarks.md'), join(tmp.dir, 'old-page.md'));
    writeResult('core', coreResult());
    expect(report()).toContain('## Model forward + backward');
    expect(readFileSync(join(tmp.dir, 'old-page.md'), 'utf8')).toBe('old\n');
    expect(readdirSync(join(tmp.dir, 'docs'))).toEqual(['benchmarks.md']); // no temp file left
  });

  it('a result with a missing key is one error naming file and key; the old doc stays', () => {
    const bad = trainResult();
    delete (bad.ratios as Record<string, unknown>).bf16_throughput_vs_torch;
    writeResult('train', bad);
    writeFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'old\n');
    const res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('bench:report: bench-results/train.json: missing key ratios.bf16_throughput_vs_torch');
    expect(readFileSync(join(tmp.dir, 'docs', 'benchmarks.md'), 'utf8')).toBe('old\n');
  });

  it('malformed arrays, profile rows, run records and files are one error naming the file and key, never a NaN or a bare TypeError', () => {
    const refused = (what: string, message: string) => {
      const res = node(REPORT);
      expect(res.status, what).toBe(1);
      expect(res.stderr.trim(), what).toBe(`bench:report: ${message}`);
    };
    const train = trainResult();
    (train.ours_bf16 as Record<string, unknown>).step_s_samples = '0.75, 0.77';
    writeResult('train', train);
    refused('samples as a string', 'bench-results/train.json: ours_bf16.step_s_samples must be a non-empty array of finite numbers, got "0.75, 0.77"');
    const profile = trainResult();
    delete ((profile.profile as Record<string, { rows: Record<string, unknown>[] }>).bf16.rows[1]!).seconds;
    writeResult('train', profile);
    refused('a profile row without seconds', 'bench-results/train.json: missing key profile.bf16.rows.1.seconds');
    rmSync(join(tmp.dir, 'bench-results', 'train.json'));
    const zero = zeroResult();
    (zero.rows as Record<string, unknown>[])[2]!.peak_rss_mb = [700, null];
    writeResult('zero', zero);
    refused('a null RSS', 'bench-results/zero.json: rows.2.peak_rss_mb must be a non-empty array of finite numbers, got [700,null]');
    rmSync(join(tmp.dir, 'bench-results', 'zero.json'));
    writeResult('train', trainResult());
    writeFileSync(join(tmp.dir, 'bench-results', 'runs.json'), '{"train": ');
    const runs = node(REPORT);
    expect(runs.status).toBe(1);
    expect(runs.stderr).toContain('bench:report: bench-results/runs.json: not valid JSON');
    writeFileSync(join(tmp.dir, 'bench-results', 'runs.json'), JSON.stringify({ train: { command: 'npm run bench:train', started: '2026-11-27T08:00:00.000Z', seconds: 10, cpu: 'Test', cores: 2, load_before: [1, 1, 1] } }));
    refused('a run record without load_after', 'bench-results/runs.json: missing key train.load_after');
    rmSync(join(tmp.dir, 'bench-results', 'runs.json'));
    writeResult('train', [trainResult()]);
    refused('an array', 'bench-results/train.json: must hold a JSON object, got [' + JSON.stringify(trainResult()) + ']');
  });

  it('a result without the peer\'s recorded version is refused, not filled in', () => {
    const core = coreResult();
    delete (core.torch as Record<string, unknown>).torch;
    writeResult('core', core);
    const res = node(REPORT);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('bench:report: bench-results/core.json: missing key torch.torch');
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
