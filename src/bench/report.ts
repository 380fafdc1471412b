// docs/benchmarks.md from bench-results/*.json, so every number in the doc comes from a
// rerunnable command: `npm run bench` (runs everything, then this) or `npm run bench:report`
// (this alone, over the results on disk). One section per benchmark, each with its date, the
// machine, the load average and the exact command; bench-results/runs.json (written by all.ts)
// supplies the command and load when the benchmark ran through `npm run bench`.
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The benchmarks of the project's issues, in the order `npm run bench` runs them. */
export const KNOWN_BENCHES = ['core', 'train', 'comm', 'data', 'zero'];

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

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function loadText(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

/** Date, machine, load and command of one result. */
function provenance(name: string, r: Result, run: RunRecord | undefined): string {
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
  const command = run?.command ?? (r.has('command') ? r.str('command') : `npm run bench:${name}`);
  return [
    `- date: ${date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}${run ? ` (${f(run.seconds, 0)} s)` : ''}`,
    `- machine: ${machine}`,
    `- load average: ${load}`,
    `- command: \`${command}\``,
  ].join('\n');
}

function coreSection(r: Result): string {
  const rows = [
    ['telechat-train', f(r.num('ours.tokens_per_s'), 0), f(r.num('ours.step_s'), 3), f(r.num('ours.peak_rss_mb'), 0), f(r.num('ours.gflops'), 1)],
    ['PyTorch eager', f(r.num('torch.tokens_per_s'), 0), f(r.num('torch.step_s'), 3), f(r.num('torch.peak_rss_mb'), 0), ''],
  ];
  return [
    'Forward + backward of the bench model (4 layers, hidden 512, 8 heads, ffn 1376, vocab 8192, batch 4 x 1024, fp32, ' +
      `${r.has('machine.threads') ? r.num('machine.threads') : 2} threads), median step timed in the process.`,
    '',
    table(['side', 'tokens/s', 's/step', 'peak RSS MB', 'GFLOP/s'], rows),
    '',
    `Throughput x${f(r.num('ratios.throughput_vs_torch'))} PyTorch (target >= 1.5), peak RSS x${f(r.num('ratios.peak_rss_vs_torch'))} ` +
      `(target <= 0.6), ${f(100 * r.num('ratios.fraction_of_sgemm'), 0)}% of the measured sgemm ${f(r.num('ours.sgemm_gflops'), 1)} GFLOP/s (target >= 60%).`,
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
  const rows = r.get(`profile.${key}.rows`) as ProfileRow[];
  const timed = rows.reduce((s, x) => s + x.seconds, 0);
  const body = rows.map((x) => [x.op, f(x.calls / steps, 0), f((1000 * x.seconds) / steps, 1), `${f((100 * x.seconds) / wall, 1)}%`]);
  body.push(['(not in a timed op: JS, batch upload)', '', f((1000 * (wall - timed)) / steps, 1), `${f((100 * (wall - timed)) / wall, 1)}%`]);
  return table(['op', 'calls/step', 'ms/step', 'share of step'], body);
}

function trainSection(r: Result): string {
  const side = (label: string, key: string): string[] => [label, f(r.num(`${key}.tokens_per_s`), 0), f(r.num(`${key}.step_s`), 2),
    (r.get(`${key}.step_s_samples`) as number[]).map((x) => f(x, 2)).join(', '), f(r.num(`${key}.step_cpu_s`), 2), f(r.num(`${key}.peak_rss_mb`), 0)];
  const out = [
    'Full training step (forward, backward, global-norm clipping, AdamW update) of the bench model, batch 4 x 1024 ' +
      `tokens, ${r.num('machine.threads')} threads. Ours runs the trainer's ZeroEngine (stage 0, world size 1); PyTorch ` +
      'runs scripts/bench/core_torch.py --train (eager, torch.optim.AdamW; its bf16 side adds --bf16-autocast: ' +
      'torch.autocast("cpu", dtype=torch.bfloat16) around the forward). Each process is timed from outside: ' +
      `${r.str('timing')}.`,
    '',
    table(['side', 'tokens/s', 's/step (median)', 's/step per round', 'CPU s/step', 'peak RSS MB'], [
      side('telechat-train fp32', 'ours_fp32'),
      side('telechat-train bf16', 'ours_bf16'),
      side('PyTorch eager fp32', 'torch_fp32'),
      ...(r.has('torch_bf16') ? [side('PyTorch eager bf16 autocast', 'torch_bf16')] : []),
    ]),
    '',
    table(['ratio vs PyTorch fp32', 'fp32', 'bf16', 'target'], [
      ['throughput', `x${f(r.num('ratios.fp32_throughput_vs_torch'))}`, `x${f(r.num('ratios.bf16_throughput_vs_torch'))}`, '>= 1.5'],
      ['peak RSS', `x${f(r.num('ratios.fp32_peak_rss_vs_torch'))}`, `x${f(r.num('ratios.bf16_peak_rss_vs_torch'))}`, '<= 0.6'],
      ['CPU seconds per step (torch / ours)', `x${f(r.num('ratios.fp32_cpu_per_token_vs_torch'))}`, `x${f(r.num('ratios.bf16_cpu_per_token_vs_torch'))}`, ''],
    ]),
    ...(r.has('ratios.bf16_throughput_vs_torch_bf16') ? ['', table(['bf16 and sgemm targets', 'measured', 'target'], [
      ['bf16 throughput vs PyTorch bf16 autocast', `x${f(r.num('ratios.bf16_throughput_vs_torch_bf16'))}`, '>= 1.5'],
      ['bf16 throughput vs our fp32', `x${f(r.num('ratios.bf16_throughput_vs_ours_fp32'))}`, '>= 1.4'],
      [`our fp32 step GFLOP/s (${f(r.num('ours_fp32_gflops'), 1)}) vs sgemm (${f(r.num('sgemm.gflops'), 1)})`,
        `${f(100 * r.num('ratios.fp32_fraction_of_sgemm'), 0)}%`, '>= 80%'],
    ])] : []),
    '',
    'Throughput is the headline (wall time). CPU s/step is the same long-minus-short difference of the processes\' own ' +
      'user + system CPU seconds: it moves much less than wall time when other jobs share the cores.',
  ];
  const onednn = r.has('bf16_gemm_path') && r.str('bf16_gemm_path').startsWith('onednn');
  out.push('', 'bf16 here is bf16 storage (parameters, activations) with fp32 accumulation, fp32 gradient accumulators and fp32 ' +
    'master weights and moments, as the trainer runs a bf16 config. ' + (onednn
    ? `Linear products run on oneDNN's bf16 matmul (${r.str('bf16_gemm_path')}); attention tiles and the other ops ` +
      'compute in fp32 from bf16 storage.'
    : 'The CPU has no bf16 matrix unit in this path: every bf16 product widens its operand blocks to fp32 for sgemm and ' +
      'rounds its output back, so on CPU bf16 buys memory, not speed.'));
  if (r.has('profile.fp32')) {
    out.push('', '### Where the time goes (TELECHAT_PROFILE=1)', '',
      'Per-op wall time of our training step, from one extra run per precision with TELECHAT_PROFILE=1 (every Backend ' +
        'call timed, plus the engine\'s optimizer sections), averaged over the steps after the warm-up step. ' +
        'The share is of the step\'s wall time measured in the same process.', '',
      '**fp32**', '', profileTable(r, 'fp32'));
    if (r.has('profile.bf16')) out.push('', '**bf16**', '', profileTable(r, 'bf16'));
  }
  return out.join('\n');
}

interface CommRow {
  op: string;
  ranks: number;
  mb: number;
  ours_busbw_gbps: number;
  torch_busbw_gbps: number;
  speed_vs_torch: number;
  // Rank 0's process per timed iteration (absent from results before they were recorded).
  ours_minflt_per_op?: number;
  torch_minflt_per_op?: number;
  ours_cpu_ms_per_op?: number;
  torch_cpu_ms_per_op?: number;
}

function commSection(r: Result): string {
  const rows = r.get('rows') as CommRow[];
  const diag = rows.every((x) => [x.ours_minflt_per_op, x.torch_minflt_per_op, x.ours_cpu_ms_per_op, x.torch_cpu_ms_per_op]
    .every((v) => typeof v === 'number' && Number.isFinite(v)));
  const header = ['op', 'ranks', 'MB', 'ours GB/s', 'torch GB/s', 'ratio'];
  if (diag) header.push('page faults/op ours / torch', 'CPU ms/op ours / torch');
  const body = rows.map((x) => {
    const cells = [x.op, String(x.ranks), String(x.mb), f(x.ours_busbw_gbps), f(x.torch_busbw_gbps), f(x.speed_vs_torch)];
    if (diag) {
      cells.push(`${f(x.ours_minflt_per_op!, 0)} / ${f(x.torch_minflt_per_op!, 0)}`, `${f(x.ours_cpu_ms_per_op!, 1)} / ${f(x.torch_cpu_ms_per_op!, 1)}`);
    }
    return cells;
  });
  const parts = [
    'Bus bandwidth (GB/s, NCCL-tests convention) of our Gloo communicator vs torch.distributed gloo, fp32 on 127.0.0.1; ' +
      `ratio = torch time / our time (target >= 0.9 at >= 16 MB). ${r.has('note') ? r.str('note') + '.' : ''}`,
    '',
    table(header, body),
  ];
  if (diag) {
    parts.push('', 'Page faults and CPU time (user + system, all threads) are per timed iteration of rank 0\'s process, ' +
      'barriers included, from the launch whose time is shown. On a shared machine the times move with other jobs\' load; ' +
      'these two move much less, so they show where a difference comes from (see "CPU collectives" in docs/distributed.md).');
  }
  return parts.join('\n');
}

function dataSection(r: Result): string {
  return [
    `\`telechat-data build\` of a generated ${r.num('input_mb')} MB jsonl vs a Python sentencepiece baseline encoding the same texts ` +
      `(${r.num('tokens').toLocaleString('en-US')} tokens; best of ${r.has('repeats') ? r.num('repeats') : 1} alternating runs).`,
    '',
    table(['side', 'M tokens/s', 'seconds', 'peak RSS MB'], [
      ['telechat-data build', f(r.num('ours.tokens_per_s') / 1e6), f(r.num('ours.seconds'), 1), f(r.num('ours.max_rss_mb'), 0)],
      ['Python sentencepiece', f(r.num('python_sentencepiece.tokens_per_s') / 1e6), f(r.num('python_sentencepiece.seconds'), 1), ''],
    ]),
    '',
    `Ratio x${f(r.num('ratio_tokens_per_s'))} (target ${r.has('targets.ratio') ? r.str('targets.ratio') : '>= 1.0'}).`,
  ].join('\n');
}

function zeroSection(r: Result): string {
  const rows = r.get('rows');
  if (!Array.isArray(rows)) throw new Error(`${r.file}: rows must be an array`);
  const body = rows.map((_, i) => {
    const rss = r.get(`rows.${i}.peak_rss_mb`);
    if (!Array.isArray(rss)) throw new Error(`${r.file}: rows.${i}.peak_rss_mb must be an array`);
    return [r.str(`rows.${i}.side`), f(r.num(`rows.${i}.step_s`), 2), f(r.num(`rows.${i}.tokens_per_s`), 0), `x${f(r.num(`rows.${i}.throughput_vs_ddp`))}`, rss.map((x) => f(Number(x), 0)).join(' / ')];
  });
  return [
    `Training step of the bench model on ${r.num('ranks')} ranks x ${r.num('threads_per_rank')} thread(s), fp32, best of ${r.num('steps')} steps, against PyTorch DDP (gloo) and ZeroRedundancyOptimizer on the same model and batch.`,
    '',
    table(['side', 's/step', 'tokens/s', 'vs DDP', 'peak RSS MB per rank'], body),
    '',
    'Targets: stages 0-2 >= 1.0x DDP throughput; stage 3 >= 0.8x with per-rank peak RSS below DDP\'s.',
  ].join('\n');
}

/** A result file nobody wrote a formatter for yet: its top-level numbers. */
function genericSection(r: Result): string {
  const rows = Object.entries(r.data).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, String(v)]);
  return rows.length ? table(['key', 'value'], rows) : `See ${r.file}.`;
}

const SECTIONS: Record<string, { title: string; render: (r: Result) => string }> = {
  core: { title: 'Model forward + backward (`npm run bench:core`)', render: coreSection },
  train: { title: 'Training step (`npm run bench:train`)', render: trainSection },
  comm: { title: 'Collectives (`npm run bench:comm`)', render: commSection },
  data: { title: 'Dataset build (`npm run bench:data`)', render: dataSection },
  zero: { title: 'ZeRO stages (`npm run bench:zero`)', render: zeroSection },
};

/** The run record, if it is the run that wrote `file` (not an older one before a direct rerun). */
function runFor(run: RunRecord | undefined, file: string): RunRecord | undefined {
  if (!run) return undefined;
  const start = Date.parse(run.started);
  const written = statSync(file).mtimeMs;
  return written >= start && written <= start + (run.seconds + 5) * 1000 ? run : undefined;
}

/** Markdown for every result in bench-results/ (and a line for each known bench without one). */
export function renderReport(): string {
  const runsPath = join(RESULTS, 'runs.json');
  const runs = (existsSync(runsPath) ? JSON.parse(readFileSync(runsPath, 'utf8')) : {}) as Record<string, RunRecord>;
  const files = existsSync(RESULTS) ? readdirSync(RESULTS).filter((n) => n.endsWith('.json') && n !== 'runs.json') : [];
  const present = files.map((n) => n.slice(0, -'.json'.length));
  const names = [...KNOWN_BENCHES, ...present.filter((n) => !KNOWN_BENCHES.includes(n)).sort()];
  const parts = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench:report` from bench-results/*.json; `npm run bench` reruns every benchmark and then',
    'regenerates this file. Each section names its own date, machine, load average and exact command. The development',
    'machine is shared with other jobs: the load average says how much of its CPU the benchmark actually had, and',
    'benchmarks that compare two sides alternate them so both see the same conditions.',
  ];
  for (const name of names) {
    const section = SECTIONS[name] ?? { title: `\`npm run bench:${name}\``, render: genericSection };
    parts.push('', `## ${section.title}`, '');
    if (!present.includes(name)) {
      parts.push(`Not available: no bench-results/${name}.json (the benchmark is not defined yet, or has not been run).`);
      continue;
    }
    const file = join(RESULTS, `${name}.json`);
    let data: Json;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as Json;
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    const r = new Result(file, data);
    parts.push(provenance(name, r, runFor(runs[name], file)), '', section.render(r));
  }
  return parts.join('\n') + '\n';
}

/** Writes docs/benchmarks.md; returns its path. */
export function writeReport(): string {
  const text = renderReport(); // fully rendered before the file is touched
  writeFileSync(DOC, text);
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
