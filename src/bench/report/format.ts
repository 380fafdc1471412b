// Formatting shared by the sections of docs/benchmarks.md: numbers, ratios beside targets
// (rounded toward missing them), tables, provenance lines, the bench model and the PyTorch peer.
import { statSync } from 'node:fs';
import { BENCH_CONFIG, BENCH_SHAPE } from '../core_config.js';
import type { Json, Result, RunRecord } from './result.js';

export function f(x: number, digits = 2): string {
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
export const atLeast = (x: number, digits = 2): string => vsTarget(x, digits, 'atLeast');
/** A ratio beside an at-most target (<= t), rounded up. */
export const atMost = (x: number, digits = 2): string => vsTarget(x, digits, 'atMost');

export function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function loadText(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

/** Date, machine, threads, load and command of one result. */
export function provenance(r: Result, run: RunRecord | undefined, threads: string | null): string {
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
export function benchModel(r: Result, shapeKey: string): string {
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
export function torchBuildText(r: Result, key: string): string {
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
export function eagerPeer(version: string, threads: string, build: string): string {
  return `**Peer:** PyTorch ${version} (torch.__version__ at run time; ${build}), eager autograd, fp32, ${threads} ` +
    '(torch.set_num_threads), no torch.compile or TorchScript; attention is written out as torch 1.13 users write it, ' +
    'the full [B, heads, T, T] score matrix materialised, masked_fill and softmax (1.13 has no scaled_dot_product_attention). ' +
    'Ours computes causal attention in tiles and never forms T x T. This is not the strongest PyTorch: a fused attention ' +
    '(torch >= 2.0 SDPA / FlashAttention) or torch.compile would close part of the gap.';
}

interface ProfileRow {
  op: string;
  calls: number;
  seconds: number;
}

export function profileTable(r: Result, key: string): string {
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
