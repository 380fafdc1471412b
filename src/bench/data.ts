// bench:data: build throughput (tokens/s) and peak RSS of `telechat-data build` on a
// generated jsonl (default 200 MB; BENCH_DATA_MB overrides), side by side with a Python
// sentencepiece baseline that parses the same lines and encodes the same texts
// (scripts/reference/encode_baseline.py, sentencepiece's version recorded at run time), at
// each thread count of BENCH_DATA_THREADS (default 1,2). Both sides get the same number of
// encoding threads: ours OMP_NUM_THREADS=N for the native encoder (OpenMP over texts, on a
// worker thread while the main thread parses the next batch), Python encode(batch,
// num_threads=N) (parsing on the one Python thread, between batches). Each process's own CPU
// seconds are recorded, so a side that overlaps parsing with encoding shows it.
//
// The runs alternate ours / Python (order swapped every round) over BENCH_REPEATS rounds
// (default 3), and each side keeps its best time per thread count: on a shared machine other
// jobs come and go, and alternating exposes both sides to the same conditions. Peak RSS is the
// largest over a side's runs. Writes bench-results/data.json.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../observe/files.js';

import { Rng } from '../data/rng.js';
import { benchCommand, positiveIntEnv, positiveIntListEnv } from './env.js';

const MB = positiveIntEnv('BENCH_DATA_MB', 200);
const REPEATS = positiveIntEnv('BENCH_REPEATS', 3);
const THREADS = positiveIntListEnv('BENCH_DATA_THREADS', [1, 2]);
const PYTHON = process.env.TELECHAT_PYTHON ?? '/usr/bin/python3';
const TOKENIZER = 'data/tokenizer';
const work = join(tmpdir(), `bench-data-${process.pid}`);

async function generate(path: string, bytes: number): Promise<void> {
  // Seeded draws of the shipped sample conversations: realistic text, any size.
  const lines = readFileSync('data/sample-conversations.jsonl', 'utf8').trim().split('\n');
  const rng = new Rng(2024);
  const out = createWriteStream(path);
  let n = 0;
  while (n < bytes) {
    const chunk: string[] = [];
    for (let i = 0; i < 1000; i++) chunk.push(lines[rng.below(lines.length)]!);
    const text = chunk.join('\n') + '\n';
    n += Buffer.byteLength(text);
    if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
}

/** One run of one side: wall seconds of the build/encode, tokens, the process's CPU seconds and peak RSS. */
interface Run {
  seconds: number;
  tokens: number;
  cpu_s: number;
  peak_rss_mb: number;
  sentencepiece?: string;
}

function runOurs(input: string, output: string, threads: number): Run {
  // A fresh process, so its peak RSS is the build's alone.
  const script = `
    const { buildDataset } = await import(${JSON.stringify(join(process.cwd(), 'dist/data/builder.js'))});
    const t0 = performance.now();
    const m = await buildDataset({ input: ${JSON.stringify(input)}, tokenizerDir: ${JSON.stringify(TOKENIZER)},
      template: 'telechat2', output: ${JSON.stringify(output)}, maxSeqLen: 2048, overwrite: true });
    const seconds = (performance.now() - t0) / 1000;
    const u = process.resourceUsage();
    console.log(JSON.stringify({ seconds, tokens: m.tokens, cpu_s: (u.userCPUTime + u.systemCPUTime) / 1e6, peak_rss_mb: u.maxRSS / 1024 }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
}

function runPython(input: string, threads: number): Run {
  const out = execFileSync(PYTHON, ['scripts/reference/encode_baseline.py', join(TOKENIZER, 'tokenizer.model'), input, String(threads)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  return JSON.parse(out) as Run;
}

/** A side at one thread count: its best run's time, the largest peak RSS, every run's time. */
function summarise(runs: Run[]) {
  const best = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return {
    seconds: best.seconds,
    tokens_per_s: best.tokens / best.seconds,
    cpu_s: best.cpu_s,
    max_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb)),
    seconds_per_round: runs.map((r) => r.seconds),
  };
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  const input = join(work, 'bench.jsonl');
  process.stdout.write(`generating ${MB} MB of jsonl...\n`);
  await generate(input, MB * 1e6);
  const runs = new Map<number, { ours: Run[]; python: Run[] }>(THREADS.map((t) => [t, { ours: [], python: [] }]));
  const loads: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    for (const threads of THREADS) {
      const order = r % 2 === 0 ? (['ours', 'python'] as const) : (['python', 'ours'] as const);
      for (const side of order) {
        loads.push(loadavg()[0]!);
        const run = side === 'ours' ? runOurs(input, join(work, 'ds'), threads) : runPython(input, threads);
        runs.get(threads)![side].push(run);
        process.stdout.write(`  round ${r + 1} ${threads} thread(s) ${side.padEnd(6)} ${run.seconds.toFixed(1)} s  ${(run.tokens / run.seconds / 1e6).toFixed(2)} M tokens/s  load ${loads[loads.length - 1]!.toFixed(2)}\n`);
      }
    }
  }
  loads.push(loadavg()[0]!);
  const all = [...runs.values()].flatMap((x) => [...x.ours, ...x.python]);
  const tokens = all[0]!.tokens;
  for (const [threads, x] of runs) {
    for (const p of x.python) if (p.tokens !== x.ours[0]!.tokens) throw new Error(`token counts differ at ${threads} thread(s): ours ${x.ours[0]!.tokens}, Python ${p.tokens}`);
    for (const o of x.ours) if (o.tokens !== tokens) throw new Error(`our token count changed between runs: ${tokens} vs ${o.tokens}`);
  }
  const sentencepiece = all.find((x) => typeof x.sentencepiece === 'string')?.sentencepiece;
  if (!sentencepiece) throw new Error('scripts/reference/encode_baseline.py printed no sentencepiece version');
  const sorted = [...loads].sort((a, b) => a - b);
  const result = {
    bench: 'data',
    date: new Date().toISOString(),
    command: benchCommand('data'),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length },
    load_average_1m: { min: sorted[0], median: sorted[sorted.length >> 1], max: sorted[sorted.length - 1], samples: loads },
    input_mb: MB,
    repeats: REPEATS,
    tokens,
    peer: { sentencepiece, python: PYTHON },
    timing: `best of ${REPEATS} alternating runs per side and thread count; each process's wall time of the build / encode loop`,
    by_threads: THREADS.map((threads) => {
      const x = runs.get(threads)!;
      const ours = summarise(x.ours);
      const python_sentencepiece = summarise(x.python);
      return { threads, ours, python_sentencepiece, ratio_tokens_per_s: python_sentencepiece.seconds / ours.seconds };
    }),
    targets: { ratio: '>= 1.0', max_rss_mb: '< 600' },
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileAtomic('bench-results/data.json', JSON.stringify(result, null, 2) + '\n');
  for (const t of result.by_threads) {
    process.stdout.write(`${t.threads} thread(s): telechat-data build ${(t.ours.tokens_per_s / 1e6).toFixed(2)} M tokens/s (peak RSS ${t.ours.max_rss_mb.toFixed(0)} MB), ` +
      `Python sentencepiece ${sentencepiece} ${(t.python_sentencepiece.tokens_per_s / 1e6).toFixed(2)} M tokens/s; ratio ${t.ratio_tokens_per_s.toFixed(2)}x (target >= 1.0)\n`);
  }
  process.stdout.write('-> bench-results/data.json\n');
}

try {
  await main();
} catch (e) {
  console.error(`bench:data: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
