// docs/benchmarks.md from bench-results/*.json, so every number in the doc comes from a
// rerunnable command: `npm run bench` (runs everything, then this) or `npm run bench:report`
// (this alone, over the results on disk). One section per benchmark, each with its date, the
// machine, the load average and the exact command; bench-results/runs.json (written by all.ts)
// supplies the command and load when the benchmark ran through `npm run bench`.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../observe/files.js';
import { busBandwidthGBps, COLLECTIVE_OPS, type CollectiveOp } from './busbw.js';
import { BENCH_CONFIG, BENCH_SHAPE } from './core_config.js';

/** The benchmarks of the project's issues, in the order `npm run bench` runs them. */
export const KNOWN_BENCHES = ['core', 'train', 'comm', 'data', 'zero'];

/** Scripts named bench:* that are tools, not benchmarks. */
const NOT_BENCHES = new Set(['report']);

/** The benchmarks ./package.json defines: its bench:* scripts, tools aside. */
export function definedBenches(): string[] {
  if (!existsSync('package.json')) return [];
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts?: Record<string, string> };
  return Object.keys(pkg.scripts ?? {})
    .filter((s) => s.startsWith('bench:'))
    .map((s) => s.slice('bench:'.length))
    .filter((s) => !NOT_BENCHES.has(s));
}

export interface RunRecord {
  command: string;
  started: string;
  seconds: number;
  cpu: string;
  cores: number;
  load_before: number[];
  load_after: number[];
}

const RESULTS = 'bench-results';
const DOC = join('docs', 'benchmarks.md');

type Json = Record<string, unknown>;

/** A field of a result file by dotted path; a missing or mistyped one names the file and key. */
class Result {
  constructor(
    readonly file: string,
    readonly data: Json,
  ) {}

  get(path: string): unknown {
    let v: unknown = this.data;
    for (const k of path.split('.')) {
      if (typeof v !== 'object' || v === null || !(k in v)) throw new Error(`${this.file}: missing key ${path}`);
      v = (v as Json)[k];
    }
    return v;
  }

  num(path: string): number {
    const v = this.get(path);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${this.file}: ${path} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  str(path: string): string {
    const v = this.get(path);
    if (typeof v !== 'string') throw new Error(`${this.file}: ${path} must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A non-empty array of finite numbers (per-round times, per-rank RSS). */
  nums(path: string): number[] {
    const v = this.get(path);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`${this.file}: ${path} must be a non-empty array of finite numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  }

  /** The length of an array. */
  len(path: string): number {
    const v = this.get(path);
    if (!Array.isArray(v)) throw new Error(`${this.file}: ${path} must be an array, got ${JSON.stringify(v)}`);
    return v.length;
  }

  has(path: string): boolean {
    try {
      this.get(path);
      return true;
    } catch {
      return false;
    }
  }
}

function f(x: number, digits = 2): string {
  return x.toFixed(digits);
}

/**
 * A ratio set beside a target, rounded toward missing it: down for an at-least target, up for an
 * at-most one, so 0.7996 of ">= 0.8" prints 79.9%, never a met-looking 80.0%.
 */
function vsTarget(x: number, digits: number, target: 'atLeast' | 'atMost'): string {
  const scale = 10 ** digits;
  const eps = 1e-9; // float noise in x * scale (0.8 * 1000 is 799.99...)
  const rounded = target === 'atLeast' ? Math.floor(x * scale + eps) : Math.ceil(x * scale - eps);
  return (rounded / scale).toFixed(digits);
}

/** A ratio beside an at-least target (>= t), rounded down. */
const atLeast = (x: number, digits = 2): string => vsTarget(x, digits, 'atLeast');
/** A ratio beside an at-most target (<= t), rounded up. */
const atMost = (x: number, digits = 2): string => vsTarget(x, digits, 'atMost');

/**
 * A ratio from a result file, checked against the two values it is the ratio of (both printed on
 * the page): one computed the wrong way round (torch / ours for ours / torch) or not from those
 * values is refused, naming the key, rather than printed beside a target.
 */
function ratioOf(r: Result, key: string, num: string, den: string): number {
  const v = r.num(key);
  const x = r.num(num) / r.num(den);
  if (!(Math.abs(v - x) <= 1e-9 * Math.abs(x))) {
    throw new Error(`${r.file}: ${key} is ${v}, but ${num} / ${den} is ${x} (a ratio the wrong way round, or not from the values the page shows)`);
  }
  return v;
}

/** bench:train's ratios: each key under ratios. and the values it divides. */
const TRAIN_RATIOS: Record<string, [string, string]> = {
  fp32_throughput_vs_torch: ['ours_fp32.tokens_per_s', 'torch_fp32.tokens_per_s'],
  bf16_throughput_vs_torch: ['ours_bf16.tokens_per_s', 'torch_fp32.tokens_per_s'],
  fp32_peak_rss_vs_torch: ['ours_fp32.peak_rss_mb', 'torch_fp32.peak_rss_mb'],
  bf16_peak_rss_vs_torch: ['ours_bf16.peak_rss_mb', 'torch_fp32.peak_rss_mb'],
  fp32_cpu_per_token_vs_torch: ['torch_fp32.step_cpu_s', 'ours_fp32.step_cpu_s'],
  bf16_cpu_per_token_vs_torch: ['torch_fp32.step_cpu_s', 'ours_bf16.step_cpu_s'],
  bf16_throughput_vs_torch_bf16: ['ours_bf16.tokens_per_s', 'torch_bf16.tokens_per_s'],
  bf16_throughput_vs_ours_fp32: ['ours_bf16.tokens_per_s', 'ours_fp32.tokens_per_s'],
  fp32_fraction_of_sgemm: ['ours_fp32_gflops', 'sgemm.gflops'],
  lora_fp32_throughput_vs_full: ['ours_lora_fp32.tokens_per_s', 'ours_fp32.tokens_per_s'],
  lora_bf16_throughput_vs_full: ['ours_lora_bf16.tokens_per_s', 'ours_bf16.tokens_per_s'],
  lora_fp32_peak_rss_vs_full: ['ours_lora_fp32.peak_rss_mb', 'ours_fp32.peak_rss_mb'],
  lora_bf16_peak_rss_vs_full: ['ours_lora_bf16.peak_rss_mb', 'ours_bf16.peak_rss_mb'],
  lora_fp32_throughput_vs_torch_lora: ['ours_lora_fp32.tokens_per_s', 'torch_lora_fp32.tokens_per_s'],
  lora_fp32_peak_rss_vs_torch_lora: ['ours_lora_fp32.peak_rss_mb', 'torch_lora_fp32.peak_rss_mb'],
};

/** A bench:train ratio under `at` ('' or 'own_blas.'), checked against the values it divides. */
function trainRatio(r: Result, key: string, at = ''): number {
  const [num, den] = TRAIN_RATIOS[key]!;
  return ratioOf(r, `${at}ratios.${key}`, at + num, at + den);
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function loadText(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

/** Date, machine, threads, load and command of one result. */
function provenance(r: Result, run: RunRecord | undefined, threads: string | null): string {
  const date = run?.started ?? (r.has('date') ? r.str('date') : new Date(statSync(r.file).mtimeMs).toISOString());
  const machine = run
    ? `${run.cores} x ${run.cpu}`
    : r.has('machine.cpu')
      ? `${r.num('machine.cores')} x ${r.str('machine.cpu')}`
      : r.has('machine')
        ? String(r.get('machine'))
        : 'not recorded';
  const load = run
    ? `${loadText(run.load_before)} before, ${loadText(run.load_after)} after (1/5/15 min)`
    : r.has('load_average_1m.median')
      ? `1-min ${f(r.num('load_average_1m.min'))}-${f(r.num('load_average_1m.max'))} during the run`
      : r.has('load_average_1m_at_end')
        ? `1-min ${f(r.num('load_average_1m_at_end'))} at the end`
        : r.has('machine.load_1min_before')
          ? `1-min ${f(r.num('machine.load_1min_before'))} before, ${f(r.num('machine.load_1min_after'))} after`
          : 'not recorded';
  // the command the run recorded, never one made up from the benchmark's name
  const command = run?.command ?? (r.has('command') ? r.str('command') : null);
  return [
    `- date: ${date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}${run ? ` (${f(run.seconds, 0)} s)` : ''}`,
    `- machine: ${machine}`,
    ...(threads ? [`- threads: ${threads}`] : []),
    `- load average: ${load}`,
    ...(r.has('blas.core') ? [`- OpenBLAS: ${blasText(r)}`] : []),
    command === null ? '- command: not recorded (the result file predates recorded commands; rerun to record it)' : `- command: \`${command}\``,
  ].join('\n');
}

/**
 * The bench model and batch a core, train or zero result was measured on, as the page names them
 * (from the result, not from a literal). A result of another model or batch than the harness's
 * (BENCH_CONFIG, BENCH_SHAPE) is stale, left from before the bench model changed, and is refused.
 * `shapeKey` is where the result records its batch; a core.json from before it did is checked by
 * the tokens per step it measured.
 */
function benchModel(r: Result, shapeKey: string): string {
  const config = r.get('config');
  if (typeof config !== 'object' || config === null) throw new Error(`${r.file}: config must be an object`);
  const keys = new Set([...Object.keys(BENCH_CONFIG), ...Object.keys(config)]);
  for (const k of keys) {
    const got = JSON.stringify((config as Json)[k]);
    const want = JSON.stringify((BENCH_CONFIG as Json)[k]);
    if (got !== want) {
      throw new Error(`${r.file}: config.${k} is ${got ?? 'missing'}, the bench model of src/bench/core_config.ts has ${want ?? 'no such key'}: ` +
        'a result of another model (stale); rerun the benchmark');
    }
  }
  let batch: number;
  let seqLen: number;
  if (r.has(shapeKey)) {
    [batch, seqLen] = [r.num(`${shapeKey}.batch`), r.num(`${shapeKey}.seqLen`)];
  } else {
    const tokens = r.num('ours.tokens_per_s') * r.num('ours.step_s');
    if (Math.abs(tokens - BENCH_SHAPE.batch * BENCH_SHAPE.seqLen) > 1e-6 * tokens) throw new Error(`${r.file}: no ${shapeKey}, and its ${tokens} tokens per step are not BENCH_SHAPE's`);
    [batch, seqLen] = [BENCH_SHAPE.batch, BENCH_SHAPE.seqLen];
  }
  if (batch !== BENCH_SHAPE.batch || seqLen !== BENCH_SHAPE.seqLen) {
    throw new Error(`${r.file}: measured on a batch of ${batch} x ${seqLen}, the harness's BENCH_SHAPE is ${BENCH_SHAPE.batch} x ${BENCH_SHAPE.seqLen} (stale); rerun the benchmark`);
  }
  const c = BENCH_CONFIG;
  return `${c.n_layer} layers, hidden ${c.hidden_size}, ${c.n_head} heads, ffn ${c.ffn_hidden_size}, vocab ${c.vocab_size}; batch ${batch} x ${seqLen}`;
}

/**
 * The PyTorch peer's build as its run recorded it (scripts/bench/torch_build.py): which BLAS its fp32
 * matmuls ran on and its CPU capability, which torch.__version__ does not say.
 */
function torchBuildText(r: Result, key: string): string {
  if (!r.has(key) || r.get(key) === null) return 'its build (BLAS, CPU capability) not recorded by this run';
  const loaded = r.get(`${key}.blas_loaded`);
  if (!Array.isArray(loaded)) throw new Error(`${r.file}: ${key}.blas_loaded must be an array`);
  const coretype = r.get(`${key}.openblas_coretype`);
  return `built with BLAS_INFO=${r.str(`${key}.blas_info`)}, MKL ${r.get(`${key}.mkl`) === true ? 'on' : 'off'}, ` +
    `oneDNN ${r.get(`${key}.mkldnn`) === true ? 'on' : 'off'}, CPU capability ${r.str(`${key}.cpu_capability`)}; ` +
    `BLAS libraries loaded: ${loaded.length ? loaded.join(', ') : 'none'}` +
    (typeof coretype === 'string' ? ` (OPENBLAS_CORETYPE=${coretype} in its environment too)` : '');
}

/** What "PyTorch" means in the sections that compare with scripts/bench/core_torch.py or zero_torch.py. */
function eagerPeer(version: string, threads: string, build: string): string {
  return `**Peer:** PyTorch ${version} (torch.__version__ at run time; ${build}), eager autograd, fp32, ${threads} ` +
    '(torch.set_num_threads), no torch.compile or TorchScript; attention is written out as torch 1.13 users write it, ' +
    'the full [B, heads, T, T] score matrix materialised, masked_fill and softmax (1.13 has no scaled_dot_product_attention). ' +
    'Ours computes causal attention in tiles and never forms T x T. This is not the strongest PyTorch: a fused attention ' +
    '(torch >= 2.0 SDPA / FlashAttention) or torch.compile would close part of the gap.';
}

function coreSection(r: Result): string {
  const rounds = (key: string) => r.nums(`${key}.step_s_per_round`).map((x) => f(x, 3)).join(', ');
  const rows = [
    ['telechat-train', f(r.num('ours.tokens_per_s'), 0), f(r.num('ours.step_s'), 3), rounds('ours'), f(r.num('ours.peak_rss_mb'), 0), f(r.num('ours.gflops'), 1)],
    [`PyTorch ${r.str('torch.torch')} eager`, f(r.num('torch.tokens_per_s'), 0), f(r.num('torch.step_s'), 3), rounds('torch'), f(r.num('torch.peak_rss_mb'), 0), ''],
  ];
  return [
    `Forward + backward of the bench model (${benchModel(r, 'shape')}, fp32, ` +
      `${r.num('machine.threads')} threads each side). Timing: ${r.str('timing')}; the sides alternate (order swapped every ` +
      'round). Peak RSS is the largest over a side\'s launches.',
    '',
    eagerPeer(r.str('torch.torch'), `${r.num('torch.threads')} intra-op thread(s)`, torchBuildText(r, 'torch.build')),
    '',
    table(['side', 'tokens/s', 's/step (best)', 's/step per launch', 'peak RSS MB', 'GFLOP/s'], rows),
    '',
    `Throughput x${atLeast(ratioOf(r, 'ratios.throughput_vs_torch', 'ours.tokens_per_s', 'torch.tokens_per_s'))} PyTorch (target >= 1.5), ` +
      `peak RSS x${atMost(ratioOf(r, 'ratios.peak_rss_vs_torch', 'ours.peak_rss_mb', 'torch.peak_rss_mb'))} (target <= 0.6), ` +
      `${atLeast(100 * ratioOf(r, 'ratios.fraction_of_sgemm', 'ours.gflops', 'ours.sgemm_gflops'), 1)}% of the measured sgemm ${f(r.num('ours.sgemm_gflops'), 1)} GFLOP/s (target >= 60%).`,
  ].join('\n');
}

interface ProfileRow {
  op: string;
  calls: number;
  seconds: number;
}

function profileTable(r: Result, key: string): string {
  const steps = r.num(`profile.${key}.steps`);
  const wall = r.num(`profile.${key}.step_wall_s`);
  const rows: ProfileRow[] = Array.from({ length: r.len(`profile.${key}.rows`) }, (_, i) => {
    const at = `profile.${key}.rows.${i}`;
    return { op: r.str(`${at}.op`), calls: r.num(`${at}.calls`), seconds: r.num(`${at}.seconds`) };
  });
  const timed = rows.reduce((s, x) => s + x.seconds, 0);
  // Rows are exclusive (self) times, so they cannot add up to more than the steps' wall time;
  // if they do, the file counts nested sections twice (inclusive times) and no share is true.
  if (timed > wall * 1.001) {
    throw new Error(`${r.file}: profile.${key}.rows add up to ${f(timed, 3)} s, more than the ${f(wall, 3)} s of wall time ` +
      '(nested sections counted twice: rerun with a TELECHAT_PROFILE that reports self time)');
  }
  const body = rows.map((x) => [x.op, f(x.calls / steps, 0), f((1000 * x.seconds) / steps, 1), `${f((100 * x.seconds) / wall, 1)}%`]);
  body.push(['(not in a timed op: JS, batch upload)', '', f((1000 * (wall - timed)) / steps, 1), `${f((100 * (wall - timed)) / wall, 1)}%`]);
  return table(['op (outer/inner: inner inside outer)', 'calls/step', 'self ms/step', 'share of step'], body);
}

/** Which OpenBLAS kernels our fp32 linear products ran on (attention and LoRA tiles are our own), and who chose them. */
function blasText(r: Result): string {
  const forced = r.get('blas.forced_by_env');
  const core = r.str('blas.core');
  // OpenBLAS falls back to its own choice for a name it does not know: say so rather than "forced"
  const chosen = typeof forced !== 'string' ? 'its own choice for this CPU'
    : forced.toLowerCase() === core.toLowerCase() ? `forced by OPENBLAS_CORETYPE=${forced} in this machine's environment`
      : `with OPENBLAS_CORETYPE=${forced} in the environment, which OpenBLAS did not apply as given`;
  return `our fp32 linear products on its ${core} kernels, ${chosen} (${r.str('blas.config')})`;
}

/** Our fp32 step's GFLOP/s against the sgemm yardstick measured beside it, from the results under `at` ('' or 'own_blas.'). */
function sgemmRow(r: Result, at: string): string[] {
  return [`our fp32 step GFLOP/s (${f(r.num(`${at}ours_fp32_gflops`), 1)}) vs sgemm (${f(r.num(`${at}sgemm.gflops`), 1)})`,
    `${atLeast(100 * trainRatio(r, 'fp32_fraction_of_sgemm', at), 1)}%`, '>= 80%'];
}

/** Our fp32 sides rerun without OPENBLAS_CORETYPE: OpenBLAS's own kernel choice, and the fp32 and LoRA ratios under it. */
function ownBlasSection(r: Result, side: (label: string, key: string) => string[]): string {
  const core = r.str('own_blas.core');
  return [
    `Our fp32 sides again with OPENBLAS_CORETYPE removed from their environment, so OpenBLAS runs its own choice for this CPU, ` +
      `${core} (the sgemm yardstick measured the same way, in a fresh process each round; PyTorch's sides are not rerun):`,
    '',
    table(['side', 'tokens/s', 's/step (median)', 's/step per round', 'CPU s/step', 'peak RSS MB'], [
      side(`telechat-train fp32, OpenBLAS ${core}`, 'own_blas.ours_fp32'),
      side(`telechat-train LoRA fp32, OpenBLAS ${core}`, 'own_blas.ours_lora_fp32'),
    ]),
    '',
    table([`OpenBLAS ${core}`, 'fp32', 'target'], [
      sgemmRow(r, 'own_blas.'),
      ['LoRA throughput vs our full fine-tuning step', `x${atLeast(trainRatio(r, 'lora_fp32_throughput_vs_full', 'own_blas.'), 3)}`, r.str('targets.lora_throughput_vs_full')],
      ['LoRA peak RSS vs our full fine-tuning step', `x${atMost(trainRatio(r, 'lora_fp32_peak_rss_vs_full', 'own_blas.'), 3)}`, r.str('targets.lora_peak_rss_vs_full')],
    ]),
  ].join('\n');
}

/**
 * What bench:train writes for each of its targets and tables, and why a page without it is refused:
 * a run that skipped a part (BENCH_SIDES, BENCH_EVAL=0, BENCH_PROFILE=0) or a file from an older
 * harness would otherwise lose those rows, and the target with them, without a word.
 */
const TRAIN_REQUIRED: Array<[key: string, what: string, skippedBy: string]> = [
  ['torch_bf16', 'the PyTorch bf16 autocast side (target: our bf16 >= 1.5x it)', 'BENCH_SIDES without it'],
  ['ours_lora_fp32', 'a LoRA side (targets: LoRA >= 1.3x our full step, RSS <= 0.7x)', 'BENCH_SIDES without it'],
  ['ours_lora_bf16', 'a LoRA side (targets: LoRA >= 1.3x our full step, RSS <= 0.7x)', 'BENCH_SIDES without it'],
  ['torch_lora_fp32', 'the PyTorch LoRA side', 'BENCH_SIDES without it'],
  ['eval_cost', 'the evaluation-cost measurement (target: evaluation <= 0.4x a training step)', 'BENCH_EVAL=0'],
  ['profile', 'the per-op profile (where the time of a missed target goes)', 'BENCH_PROFILE=0'],
];

function trainSection(r: Result): string {
  for (const [key, what, skippedBy] of TRAIN_REQUIRED) {
    if (!r.has(key) || r.get(key) === null) {
      const why = r.has(key) ? `is null (the run had ${skippedBy})` : 'is missing (written by an older bench:train)';
      throw new Error(`${r.file}: ${key} ${why}: it holds ${what}, and the page would drop those rows; rerun npm run bench:train in full`);
    }
  }
  // OpenBLAS forced onto other kernels: the rerun under its own choice carries the sgemm and LoRA targets there too
  const forced = r.has('blas.forced_by_env') && typeof r.get('blas.forced_by_env') === 'string';
  if (forced && (!r.has('own_blas') || r.get('own_blas') === null)) {
    throw new Error(`${r.file}: own_blas is missing or null although OPENBLAS_CORETYPE=${r.str('blas.forced_by_env')} forced the kernels: ` +
      'the rerun of our fp32 sides under OpenBLAS\'s own choice (sgemm and LoRA targets) would be dropped; the run left those sides out of BENCH_SIDES');
  }
  const side = (label: string, key: string): string[] => [label, f(r.num(`${key}.tokens_per_s`), 0), f(r.num(`${key}.step_s`), 2),
    r.nums(`${key}.step_s_samples`).map((x) => f(x, 2)).join(', '), f(r.num(`${key}.step_cpu_s`), 2), f(r.num(`${key}.peak_rss_mb`), 0)];
  const out = [
    `Full training step (forward, backward, global-norm clipping, AdamW update) of the bench model (${benchModel(r, 'shape')} ` +
      `tokens), ${r.num('machine.threads')} threads each side. Ours runs the trainer's ZeroEngine (stage 0, world size 1); PyTorch ` +
      'runs scripts/bench/core_torch.py --train (torch.optim.AdamW, torch.nn.utils.clip_grad_norm_; its bf16 side adds --bf16-autocast: ' +
      'torch.autocast("cpu", dtype=torch.bfloat16) around the forward). Each process is timed from outside: ' +
      `${r.str('timing')}.`,
    '',
    eagerPeer(r.str('peer.torch'), `${r.num('peer.threads')} intra-op thread(s)`, torchBuildText(r, 'peer.build')),
    '',
    table(['side', 'tokens/s', 's/step (median)', 's/step per round', 'CPU s/step', 'peak RSS MB'], [
      side('telechat-train fp32', 'ours_fp32'),
      side('telechat-train bf16', 'ours_bf16'),
      side(`PyTorch ${r.str('peer.torch')} eager fp32`, 'torch_fp32'),
      side(`PyTorch ${r.str('peer.torch')} eager bf16 autocast`, 'torch_bf16'),
      side('telechat-train LoRA fp32', 'ours_lora_fp32'),
      side('telechat-train LoRA bf16', 'ours_lora_bf16'),
      side(`PyTorch ${r.str('peer.torch')} eager LoRA fp32`, 'torch_lora_fp32'),
    ]),
    '',
    table(['ratio vs PyTorch fp32', 'fp32', 'bf16', 'target'], [
      ['throughput', `x${atLeast(trainRatio(r, 'fp32_throughput_vs_torch'))}`, `x${atLeast(trainRatio(r, 'bf16_throughput_vs_torch'))}`, '>= 1.5'],
      ['peak RSS', `x${atMost(trainRatio(r, 'fp32_peak_rss_vs_torch'))}`, `x${atMost(trainRatio(r, 'bf16_peak_rss_vs_torch'))}`, '<= 0.6'],
      ['CPU seconds per step (torch / ours)', `x${f(trainRatio(r, 'fp32_cpu_per_token_vs_torch'))}`, `x${f(trainRatio(r, 'bf16_cpu_per_token_vs_torch'))}`, ''],
    ]),
    '', table(['bf16 and sgemm targets', 'measured', 'target'], [
      ['bf16 throughput vs PyTorch bf16 autocast', `x${atLeast(trainRatio(r, 'bf16_throughput_vs_torch_bf16'))}`, '>= 1.5'],
      ['bf16 throughput vs our fp32', `x${atLeast(trainRatio(r, 'bf16_throughput_vs_ours_fp32'))}`, '>= 1.4'],
      sgemmRow(r, ''),
    ]),
    ...(forced ? ['', ownBlasSection(r, side)] : []),
    '', 'Evaluation cost: engine.evalLoss (a forward-only loss over every label token, what the trainer\'s ' +
      `evaluation runs) of the same batch against the same process's training step: ${r.has('eval_cost.timing') ? r.str('eval_cost.timing')
        : 'in-process times, the upper middle of every call including the first (warm-up) step and evaluation (a result from ' +
          'before the warm-ups were left out, which inflated the step when its warm-up was slow; rerun bench:train)'}.`, '',
    table(['evaluation vs training step', 'fp32', 'bf16', 'target'], [
      ['wall time', `x${atMost(ratioOf(r, 'eval_cost.fp32.ratio', 'eval_cost.fp32.eval_s', 'eval_cost.fp32.step_s'))}`,
        `x${atMost(ratioOf(r, 'eval_cost.bf16.ratio', 'eval_cost.bf16.eval_s', 'eval_cost.bf16.step_s'))}`, r.str('targets.eval_vs_train_step')],
      ['CPU time', `x${f(ratioOf(r, 'eval_cost.fp32.cpu_ratio', 'eval_cost.fp32.eval_cpu_s', 'eval_cost.fp32.step_cpu_s'))}`,
        `x${f(ratioOf(r, 'eval_cost.bf16.cpu_ratio', 'eval_cost.bf16.eval_cpu_s', 'eval_cost.bf16.step_cpu_s'))}`, ''],
    ]),
    '', `LoRA rows: r = ${r.num('lora.r')}, alpha = ${r.num('lora.alpha')} on ` +
      `${r.str('lora.targets')}, over the frozen base in the same dtype (PyTorch: core_torch.py --train --lora, autograd on A ` +
      'and B, the base with requires_grad off).' +
      ` Adapter products: ${r.str('lora_tile_path')}.`, '', table(['LoRA', 'fp32', 'bf16', 'target'], [
      // three digits: these sit close to their targets (x1.30 was once a rounded 1.296)
      ['throughput vs our full fine-tuning step', `x${atLeast(trainRatio(r, 'lora_fp32_throughput_vs_full'), 3)}`,
        `x${atLeast(trainRatio(r, 'lora_bf16_throughput_vs_full'), 3)}`, r.str('targets.lora_throughput_vs_full')],
      ['peak RSS vs our full fine-tuning step', `x${atMost(trainRatio(r, 'lora_fp32_peak_rss_vs_full'), 3)}`,
        `x${atMost(trainRatio(r, 'lora_bf16_peak_rss_vs_full'), 3)}`, r.str('targets.lora_peak_rss_vs_full')],
      ['throughput vs PyTorch LoRA (fp32)', `x${f(trainRatio(r, 'lora_fp32_throughput_vs_torch_lora'))}`, '', ''],
      ['peak RSS vs PyTorch LoRA (fp32)', `x${f(trainRatio(r, 'lora_fp32_peak_rss_vs_torch_lora'))}`, '', ''],
    ]),
    '',
    'Throughput is the headline (wall time). CPU s/step is the same long-minus-short difference of the processes\' own ' +
      'user + system CPU seconds: it moves much less than wall time when other jobs share the cores.',
  ];
  // what the bf16 paragraph says comes from the paths the run recorded, never from their absence
  const onednn = r.str('bf16_gemm_path').startsWith('onednn');
  out.push('', 'bf16 here is bf16 storage (parameters, activations) with fp32 accumulation, fp32 gradient accumulators and fp32 ' +
    'master weights and moments, as the trainer runs a bf16 config. ' + (onednn
    ? `Linear products run on oneDNN's bf16 matmul (${r.str('bf16_gemm_path')}); ` +
      (r.str('attention_tile_path').includes('bf16 on vdpbf16ps')
        ? 'attention tiles on vdpbf16ps (AVX512-BF16), with the probabilities and dS rounded to bf16 for their products; ' +
          'the other ops compute in fp32 from bf16 storage.'
        : 'attention tiles and the other ops compute in fp32 from bf16 storage.')
    : 'The CPU has no bf16 matrix unit in this path: every bf16 product widens its operand blocks to fp32 for sgemm and ' +
      'rounds its output back, so on CPU bf16 buys memory, not speed.'));
  out.push('', '### Where the time goes (TELECHAT_PROFILE=1)', '',
    'Per-op wall time of our training step, from one extra run per precision with TELECHAT_PROFILE=1 (every Backend ' +
      'call timed, plus the engine\'s optimizer sections), averaged over the steps after the warm-up step. ' +
      'Each row is exclusive (self) time: a call nested in a timed section is its own row, named outer/inner, and is ' +
      'not counted again in the outer one, so the rows and the untimed remainder add up to the step and the shares to 100%. ' +
      'The share is of the step\'s wall time measured in the same process.', '',
    '**fp32**', '', profileTable(r, 'fp32'), '', '**bf16**', '', profileTable(r, 'bf16'),
    '', '**LoRA fp32**', '', profileTable(r, 'lora_fp32'), '', '**LoRA bf16**', '', profileTable(r, 'lora_bf16'));
  return out.join('\n');
}

interface CommRow {
  op: CollectiveOp;
  ours_ran: CollectiveOp;
  torch_ran: CollectiveOp;
  ranks: number;
  mb: number;
  bytes: number;
  ours_s: number;
  torch_s: number;
  // Rank 0's process per timed iteration.
  ours_minflt_per_op: number;
  torch_minflt_per_op: number;
  ours_cpu_ms_per_op: number;
  torch_cpu_ms_per_op: number;
}

const TORCH_NAME: Record<CollectiveOp, string> = { allReduce: 'all_reduce', reduceScatter: 'reduce_scatter', allGather: 'all_gather', broadcast: 'broadcast' };

function commSection(r: Result): string {
  const rows = r.get('rows');
  if (!Array.isArray(rows)) throw new Error(`${r.file}: rows must be an array`);
  const body = rows.map((_, i) => {
    const k = (key: string) => `rows.${i}.${key}`;
    const op = (key: string): CollectiveOp => {
      const v = r.str(k(key));
      if (!(COLLECTIVE_OPS as readonly string[]).includes(v)) throw new Error(`${r.file}: ${k(key)} must be one of ${COLLECTIVE_OPS.join(', ')}, got ${JSON.stringify(v)}`);
      return v as CollectiveOp;
    };
    const x: CommRow = {
      op: op('op'), ours_ran: op('ours_ran'), torch_ran: op('torch_ran'), ranks: r.num(k('ranks')), mb: r.num(k('mb')), bytes: r.num(k('bytes')),
      ours_s: r.num(k('ours_s')), torch_s: r.num(k('torch_s')),
      ours_minflt_per_op: r.num(k('ours_minflt_per_op')), torch_minflt_per_op: r.num(k('torch_minflt_per_op')),
      ours_cpu_ms_per_op: r.num(k('ours_cpu_ms_per_op')), torch_cpu_ms_per_op: r.num(k('torch_cpu_ms_per_op')),
    };
    const torchRan = x.torch_ran === x.op ? TORCH_NAME[x.op] : `${TORCH_NAME[x.torch_ran]} (gloo has no ${TORCH_NAME[x.op]})`;
    return [x.op, String(x.ranks), String(x.mb), torchRan,
      f(busBandwidthGBps(x.ours_ran, x.ranks, x.bytes, x.ours_s)), f(busBandwidthGBps(x.torch_ran, x.ranks, x.bytes, x.torch_s)),
      atLeast(x.torch_s / x.ours_s),
      `${f(x.ours_minflt_per_op, 0)} / ${f(x.torch_minflt_per_op, 0)}`, `${f(x.ours_cpu_ms_per_op, 1)} / ${f(x.torch_cpu_ms_per_op, 1)}`];
  });
  return [
    `Our Gloo communicator vs torch.distributed's gloo backend, fp32 buffers of ${[...new Set(rows.map((_, i) => r.num(`rows.${i}.mb`)))].join(', ')} MB ` +
      `on ${[...new Set(rows.map((_, i) => r.num(`rows.${i}.ranks`)))].join(' and ')} ranks over 127.0.0.1, every rank a process ` +
      `started by telechat-launch. Timing: ${r.str('timing')}.`,
    '',
    `**Peer:** PyTorch ${r.str('peer.torch')} (torch.__version__ at run time) torch.distributed, backend ${r.str('peer.backend')}, ` +
      `${r.str('peer.threads')} intra-op thread(s) per rank (ours: ${r.str('ours_threads')}). Torch 1.13's gloo has no reduce_scatter: ` +
      'its reduceScatter row times the all_reduce of the full buffer that users fall back to, and is rated as the all_reduce it is.',
    '',
    table(['op', 'ranks', 'MB', 'torch ran', 'ours busbw GB/s', 'torch busbw GB/s', 'time ratio torch / ours', 'page faults/op ours / torch', 'CPU ms/op ours / torch'], body),
    '',
    'Bus bandwidth follows the nccl-tests convention: B / t (B = bytes of the full buffer: the all-reduced or broadcast buffer, ' +
      'the reduce-scatter input, the all-gather output) times the factor of the op the side actually ran, on n ranks: allReduce ' +
      '2(n-1)/n, reduceScatter and allGather (n-1)/n, broadcast 1. The time ratio is torch seconds / our seconds for the same ' +
      'result (for reduceScatter: every rank holding its reduced shard), > 1 = ours faster (target >= 0.9 at >= 16 MB; every row rounded down); on the ' +
      'reduceScatter rows it is therefore not the ratio of the two bus bandwidths.',
    '',
    'Page faults and CPU time (user + system, all threads) are per timed iteration of rank 0\'s process, barriers included, from ' +
      'the launch whose time is shown. On a shared machine the times move with other jobs\' load; these two move much less, so ' +
      'they show where a difference comes from (see "CPU collectives" in docs/distributed.md).',
  ].join('\n');
}

function dataSection(r: Result): string {
  const groups = r.get('by_threads');
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${r.file}: by_threads must be a non-empty array`);
  const body: string[][] = [];
  const ratios: string[] = [];
  groups.forEach((_, i) => {
    const k = (key: string) => `by_threads.${i}.${key}`;
    const threads = r.num(k('threads'));
    const side = (label: string, key: string) => [String(threads), label, f(r.num(k(`${key}.tokens_per_s`)) / 1e6), f(r.num(k(`${key}.seconds`)), 1),
      r.nums(k(`${key}.seconds_per_round`)).map((x) => f(x, 1)).join(', '), f(r.num(k(`${key}.cpu_s`)), 1), f(r.num(k(`${key}.max_rss_mb`)), 0)];
    body.push(side('telechat-data build', 'ours'), side(`Python sentencepiece ${r.str('peer.sentencepiece')}`, 'python_sentencepiece'));
    ratios.push(`${threads} thread(s) x${atLeast(ratioOf(r, k('ratio_tokens_per_s'), k('python_sentencepiece.seconds'), k('ours.seconds')))}`);
  });
  return [
    `\`telechat-data build\` of a generated ${r.num('input_mb')} MB jsonl vs a Python baseline that parses the same lines and ` +
      `encodes the same texts (${r.num('tokens').toLocaleString('en-US')} tokens on both sides), at each thread count. Timing: ${r.str('timing')}.`,
    '',
    `**Peer:** Python sentencepiece ${r.str('peer.sentencepiece')} (its __version__ at run time), scripts/reference/encode_baseline.py: ` +
      'json.loads per line on the one Python thread, then SentencePieceProcessor.encode(texts of 512 lines, num_threads=N). Ours: ' +
      'OMP_NUM_THREADS=N for the native encoder (OpenMP over texts) on a worker thread while the main thread parses the next ' +
      'batch, so at N threads ours also runs one parsing thread beside them; its CPU seconds show what that costs.',
    '',
    table(['threads', 'side', 'M tokens/s', 'seconds (best)', 'seconds per round', 'CPU s', 'peak RSS MB'], body),
    '',
    `Ratio (Python seconds / ours): ${ratios.join(', ')} (target ${r.str('targets.ratio')}); peak RSS target ${r.str('targets.max_rss_mb')} MB.`,
  ].join('\n');
}

/** A bench:zero side as the page names it: PyTorch sides with their recorded version and optimizer. */
function zeroSideLabel(r: Result, side: string): string {
  const torch = { 'pytorch ddp': 'DDP + AdamW', 'pytorch zero1': 'DDP + ZeroRedundancyOptimizer(AdamW)' }[side];
  if (torch) return `PyTorch ${r.str('peer.torch')} ${torch}`;
  if (side.startsWith('pytorch')) throw new Error(`${r.file}: unknown PyTorch side ${JSON.stringify(side)}`);
  return side;
}

/** The sides of bench:zero: both PyTorch peers and our four stages. */
const ZERO_SIDES = ['pytorch ddp', 'pytorch zero1', 'telechat-train zero0', 'telechat-train zero1', 'telechat-train zero2', 'telechat-train zero3'];

function zeroSection(r: Result): string {
  const rows = r.get('rows');
  if (!Array.isArray(rows)) throw new Error(`${r.file}: rows must be an array`);
  // every side the targets name (stages 0-2 and 3 against DDP) and both peers, each once
  const sides = rows.map((_, i) => r.str(`rows.${i}.side`));
  for (const want of ZERO_SIDES) {
    const n = sides.filter((s) => s === want).length;
    if (n !== 1) throw new Error(`${r.file}: ${n === 0 ? 'no' : `${n}`} "${want}" row${n === 0 ? '' : 's'}; bench:zero writes one for each of ${ZERO_SIDES.join(', ')}`);
  }
  const ddp = sides.indexOf('pytorch ddp');
  const body = rows.map((_, i) => {
    const rss = r.nums(`rows.${i}.peak_rss_mb`);
    const perRound = r.nums(`rows.${i}.step_s_per_round`);
    return [zeroSideLabel(r, r.str(`rows.${i}.side`)), f(r.num(`rows.${i}.step_s`), 2), perRound.map((x) => f(x, 2)).join(', '), f(r.num(`rows.${i}.tokens_per_s`), 0),
      `x${atLeast(ratioOf(r, `rows.${i}.throughput_vs_ddp`, `rows.${i}.tokens_per_s`, `rows.${ddp}.tokens_per_s`))}`, rss.map((x) => f(x, 0)).join(' / ')];
  });
  return [
    `Training step (forward, backward, clipping 1.0, AdamW) of the bench model (${benchModel(r, 'batch')} tokens, global) split over ${r.num('ranks')} ranks x ` +
      `${r.num('threads_per_rank')} thread(s), fp32, every side started by telechat-launch on 127.0.0.1, against PyTorch ${r.str('peer.torch')} DDP and ` +
      `DDP + ZeroRedundancyOptimizer on the same model and batch. Timing: ${r.str('timing')}. Per-rank peak RSS is the largest over a side's launches.`,
    '',
    eagerPeer(r.str('peer.torch'), `${r.num('peer.threads_per_rank')} intra-op thread per rank`, torchBuildText(r, 'peer.build')) +
      ` Gradients: DistributedDataParallel over ${r.str('peer.backend')} with its defaults (25 MB buckets, all-reduce overlapped with backward).`,
    '',
    table(['side', 's/step (best)', 's/step per launch', 'tokens/s', 'vs DDP', 'peak RSS MB per rank'], body),
    '',
    'Targets: stages 0-2 >= 1.0x DDP throughput; stage 3 >= 0.8x with per-rank peak RSS below DDP\'s.',
  ].join('\n');
}

function exportSection(r: Result): string {
  const runs = r.get('runs');
  if (!Array.isArray(runs) || runs.length === 0) throw new Error(`${r.file}: runs must be a non-empty array`);
  const body = runs.map((_, i) => {
    const k = (key: string) => `runs.${i}.${key}`;
    return [String(r.num(k('layers'))), r.str(k('dtype')), f(r.num(k('model_mb')), 1), f(r.num(k('out_mb')), 1), f(r.num(k('seconds')), 2),
      f(r.num(k('in_mb_per_s')), 0), f(r.num(k('max_rss_mb')), 0)];
  });
  // the growth of each dtype's peak RSS from the fewest blocks to the most, checked against its runs
  const byLayers = (dtype: string) => runs.map((_, i) => i).filter((i) => r.str(`runs.${i}.dtype`) === dtype)
    .sort((a, b) => r.num(`runs.${a}.layers`) - r.num(`runs.${b}.layers`));
  const growth = Object.keys(r.get('rss_ratio') as Json).map((dtype) => {
    const idx = byLayers(dtype);
    if (idx.length < 2) throw new Error(`${r.file}: rss_ratio.${dtype} needs runs of two depths in ${dtype}, found ${idx.length}`);
    const x = ratioOf(r, `rss_ratio.${dtype}`, `runs.${idx.at(-1)}.max_rss_mb`, `runs.${idx[0]}.max_rss_mb`);
    return `x${atMost(x)} (${dtype})`;
  }).join(', ');
  const model = byLayers(r.str('runs.0.dtype'));
  const modelGrowth = ratioOf(r, 'model_size_ratio', `runs.${model.at(-1)}.model_mb`, `runs.${model[0]}.model_mb`);
  return [
    `\`telechat-export --model DIR --format gguf\` of generated TeleChat2-shaped fp16 HF dirs (hidden ${r.num('hidden')}) that differ only ` +
      'in depth; one process per export, its wall time and peak RSS. There is no peer: the point is that memory stays flat.',
    '',
    table(['blocks', 'dtype', 'HF MB', 'GGUF MB', 'seconds', 'MB/s read', 'peak RSS MB'], body),
    '',
    `Model x${f(modelGrowth)} larger -> peak RSS ${growth} (target: RSS does not grow with the model).`,
  ].join('\n');
}

/** A result file nobody wrote a formatter for yet: its top-level numbers. */
function genericSection(r: Result): string {
  const rows = Object.entries(r.data).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, String(v)]);
  return rows.length ? table(['key', 'value'], rows) : `See ${r.file}.`;
}

/** A section: its title, its body, and the threads line of its provenance. */
const SECTIONS: Record<string, { title: string; render: (r: Result) => string; threads: (r: Result) => string | null }> = {
  core: { title: 'Model forward + backward (`npm run bench:core`)', render: coreSection, threads: (r) => `${r.num('machine.threads')} per side` },
  train: { title: 'Training step (`npm run bench:train`)', render: trainSection, threads: (r) => `${r.num('machine.threads')} per side` },
  comm: { title: 'Collectives (`npm run bench:comm`)', render: commSection,
    threads: (r) => `ours ${r.str('ours_threads')}, torch ${r.str('peer.threads')} per rank process` },
  data: { title: 'Dataset build (`npm run bench:data`)', render: dataSection,
    threads: (r) => `${Array.from({ length: r.len('by_threads') }, (_, i) => r.num(`by_threads.${i}.threads`)).join(' and ')} encoding threads, both sides` },
  zero: { title: 'ZeRO stages (`npm run bench:zero`)', render: zeroSection, threads: (r) => `${r.num('threads_per_rank')} per rank, ${r.num('ranks')} ranks` },
  export: { title: 'GGUF export (`npm run bench:export`)', render: exportSection, threads: () => null },
};

/**
 * The entry of bench-results/runs.json for `name`, if it is the run that wrote `file` (not an older
 * one before a direct rerun); its fields are checked as a result's are.
 */
function runFor(runs: Result, name: string, file: string): RunRecord | undefined {
  if (!runs.has(name)) return undefined;
  const load = (key: string): number[] => {
    const v = runs.nums(`${name}.${key}`);
    if (v.length !== 3) throw new Error(`${runs.file}: ${name}.${key} must hold the 1, 5 and 15-minute load averages, got ${JSON.stringify(v)}`);
    return v;
  };
  const run: RunRecord = {
    command: runs.str(`${name}.command`), started: runs.str(`${name}.started`), seconds: runs.num(`${name}.seconds`),
    cpu: runs.str(`${name}.cpu`), cores: runs.num(`${name}.cores`), load_before: load('load_before'), load_after: load('load_after'),
  };
  const start = Date.parse(run.started);
  if (Number.isNaN(start)) throw new Error(`${runs.file}: ${name}.started must be an ISO date, got ${JSON.stringify(run.started)}`);
  const written = statSync(file).mtimeMs;
  return written >= start && written <= start + (run.seconds + 5) * 1000 ? run : undefined;
}

/** A JSON file of bench-results/ as a Result; one that does not parse is one error naming it. */
function readResult(file: string): Result {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file}: must hold a JSON object, got ${JSON.stringify(data)}`);
  return new Result(file, data as Json);
}

/**
 * Markdown for every result in bench-results/, and a line for each known benchmark package.json
 * does not define yet. A benchmark it does define must have a result: bench-results/ is not in git,
 * so in a fresh checkout, or after running one benchmark alone there, the page would otherwise lose
 * the other sections (numbers and targets) to 'not available' and say nothing.
 */
export function renderReport(): string {
  const runsPath = join(RESULTS, 'runs.json');
  const runs = existsSync(runsPath) ? readResult(runsPath) : new Result(runsPath, {});
  const files = existsSync(RESULTS) ? readdirSync(RESULTS).filter((n) => n.endsWith('.json') && n !== 'runs.json') : [];
  const present = files.map((n) => n.slice(0, -'.json'.length));
  const missing = definedBenches().filter((n) => !present.includes(n));
  if (missing.length) {
    throw new Error(`no result for ${missing.map((n) => `bench:${n} (${RESULTS}/${n}.json)`).join(', ')}: the page would drop ` +
      `${missing.length === 1 ? 'its section' : 'their sections'}; run ${missing.map((n) => `npm run bench:${n}`).join(', ')} (or npm run bench) first`);
  }
  const names = [...KNOWN_BENCHES, ...present.filter((n) => !KNOWN_BENCHES.includes(n)).sort()];
  const parts = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench:report` from bench-results/*.json; `npm run bench` reruns every benchmark and then',
    'regenerates this file. Each section names its own date, machine, threads, load average and exact command, and the',
    'peer it compares with (exact versions, recorded at run time). The development machine is shared with other jobs: the',
    'load average says how much of its CPU the benchmark actually had. Every comparison alternates the sides over several',
    'launches so both see the same conditions, and each section says how a point is taken from them (core, comm, data,',
    'zero: the best launch; train: the median of its rounds). Every ratio set beside a target is rounded toward missing it',
    '(down for an at-least target, up for an at-most one), so a ratio shown as meeting its target meets it, and each ratio is',
    'checked against the two values it divides. The generator refuses, leaving this page as it was, a benchmark with no',
    'result, a result missing a side or measurement its targets need, one of another bench model or batch than the harness\'s',
    '(stale), and a malformed one.',
  ];
  for (const name of names) {
    const section = SECTIONS[name] ?? { title: `\`npm run bench:${name}\``, render: genericSection, threads: () => null };
    parts.push('', `## ${section.title}`, '');
    if (!present.includes(name)) {
      parts.push(`Not available: package.json defines no bench:${name} yet.`);
      continue;
    }
    const file = join(RESULTS, `${name}.json`);
    const r = readResult(file);
    parts.push(provenance(r, runFor(runs, name, file), section.threads(r)), '', section.render(r));
  }
  return parts.join('\n') + '\n';
}

/** Writes docs/benchmarks.md; returns its path. */
export function writeReport(): string {
  const text = renderReport(); // fully rendered before the file is touched
  writeFileAtomic(DOC, text); // a crash mid-write leaves the old page, never half of one
  return DOC;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    console.log(`${writeReport()} regenerated from ${RESULTS}/*.json`);
  } catch (e) {
    console.error(`bench:report: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
