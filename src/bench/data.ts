// bench:data: build throughput (tokens/s) and peak RSS of `telechat-data build` on a
// generated jsonl (default 200 MB; BENCH_DATA_MB overrides), side by side with a Python
// sentencepiece baseline that parses the same lines and encodes the same texts
// (scripts/reference/encode_baseline.py). Writes bench-results/data.json.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { Rng } from '../data/rng.js';

const MB = Number(process.env.BENCH_DATA_MB ?? 200);
// Runs alternate ours / Python this many times and keep each side's best: on a shared machine
// other jobs come and go, and alternating exposes both sides to the same conditions.
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 1));
const TOKENIZER = 'data/tokenizer';
const work = join(tmpdir(), `bench-data-${process.pid}`);
mkdirSync(work, { recursive: true });

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

interface OurResult {
  seconds: number;
  tokens: number;
  maxRssMB: number;
}

function runOurs(input: string, output: string): OurResult {
  // A fresh process, so its peak RSS is the build's alone.
  const script = `
    const { buildDataset } = await import(${JSON.stringify(join(process.cwd(), 'dist/data/builder.js'))});
    const t0 = performance.now();
    const m = await buildDataset({ input: ${JSON.stringify(input)}, tokenizerDir: ${JSON.stringify(TOKENIZER)},
      template: 'telechat2', output: ${JSON.stringify(output)}, maxSeqLen: 2048, overwrite: true });
    const seconds = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ seconds, tokens: m.tokens, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
  const out = execFileSync('node', ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as OurResult;
}

function runPython(input: string): { seconds: number; tokens: number } {
  const out = execFileSync('/usr/bin/python3', ['scripts/reference/encode_baseline.py', join(TOKENIZER, 'tokenizer.model'), input], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as { seconds: number; tokens: number };
}

try {
  const input = join(work, 'bench.jsonl');
  process.stdout.write(`generating ${MB} MB of jsonl...\n`);
  await generate(input, MB * 1e6);
  let ours: OurResult | undefined;
  let py: { seconds: number; tokens: number } | undefined;
  for (let r = 0; r < REPEATS; r++) {
    const o = runOurs(input, join(work, 'ds'));
    const p = runPython(input);
    if (!ours || o.seconds < ours.seconds) ours = { ...o, maxRssMB: Math.max(o.maxRssMB, ours?.maxRssMB ?? 0) };
    if (!py || p.seconds < py.seconds) py = p;
  }
  if (!ours || !py) throw new Error('no run');
  if (py.tokens !== ours.tokens) throw new Error(`token counts differ: ours ${ours.tokens}, Python ${py.tokens}`);
  const result = {
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    input_mb: MB,
    repeats: REPEATS,
    load_average_1m_at_end: loadavg()[0], // other jobs on a shared box slow both sides and cancel OpenMP's gain
    tokens: ours.tokens,
    ours: { seconds: ours.seconds, tokens_per_s: ours.tokens / ours.seconds, max_rss_mb: ours.maxRssMB },
    python_sentencepiece: { seconds: py.seconds, tokens_per_s: py.tokens / py.seconds },
    ratio_tokens_per_s: py.seconds / ours.seconds,
    targets: { ratio: '>= 1.0', max_rss_mb: '< 600' },
  };
  mkdirSync('bench-results', { recursive: true });
  writeFileSync('bench-results/data.json', JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(
    `telechat-data build: ${(result.ours.tokens_per_s / 1e6).toFixed(2)} M tokens/s, peak RSS ${ours.maxRssMB.toFixed(0)} MB\n` +
      `Python sentencepiece encode: ${(result.python_sentencepiece.tokens_per_s / 1e6).toFixed(2)} M tokens/s\n` +
      `ratio ${result.ratio_tokens_per_s.toFixed(2)}x (target >= 1.0)  -> bench-results/data.json\n`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
