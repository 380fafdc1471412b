// bench:export: GGUF export throughput (MB/s of HF weights read) and peak RSS of
// `telechat-export --model DIR --format gguf` for generated TeleChat2-shaped HF dirs that
// differ only in depth (default 4 and 16 blocks of hidden 1024, fp16 safetensors). The export
// holds one tensor at a time, so its RSS must stay flat while the model grows: the result
// records both sizes and their RSS ratio. BENCH_EXPORT_LAYERS="4,16" and BENCH_EXPORT_HIDDEN
// override. Writes bench-results/export.json.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../observe/files.js';
import { HfExportWriter } from '../checkpoint/hf_export.js';
import { fillNormal, seededUniform } from '../model/init.js';
import { parseModelSpec } from '../model/spec.js';
import { checkpointLayout } from '../model/layouts/index.js';
import { benchCommand, positiveIntEnv, positiveIntListEnv } from './env.js';

let LAYERS: number[] = [];
let HIDDEN = 0;

/** BENCH_EXPORT_LAYERS and BENCH_EXPORT_HIDDEN, each bad value one error naming the variable. */
function readSettings(): void {
  LAYERS = positiveIntListEnv('BENCH_EXPORT_LAYERS', [4, 16]);
  HIDDEN = positiveIntEnv('BENCH_EXPORT_HIDDEN', 1024);
  // heads of 64 and key/value heads of 128 (config() below) need whole numbers of both
  if (HIDDEN % 128 !== 0) throw new Error(`environment variable BENCH_EXPORT_HIDDEN must be a multiple of 128 (heads of 64, key/value groups of 128), got ${HIDDEN}`);
  if (new Set(LAYERS).size < 2) throw new Error(`environment variable BENCH_EXPORT_LAYERS must name at least two depths to compare, got ${JSON.stringify(process.env.BENCH_EXPORT_LAYERS)}`);
}
const DTYPES = ['fp16', 'q8_0'];
const work = join(tmpdir(), `bench-export-${process.pid}`);

function config(layers: number): Record<string, unknown> {
  return {
    architectures: ['Telechat2ForCausalLM'], model_type: 'telechat', hidden_size: HIDDEN, n_layer: layers, n_head: HIDDEN / 64,
    num_key_value_heads: HIDDEN / 128, ffn_hidden_size: Math.round((HIDDEN * 2.75) / 64) * 64, vocab_size: 4000,
    layer_norm_epsilon: 1e-5, tie_word_embeddings: false, training_seqlen: 4096, base_seqlen: 4096,
  };
}

/** An fp16 HF dir with seeded random weights and the shipped tokenizer. */
function makeModel(layers: number): { dir: string; bytes: number } {
  const base = join(work, `base-${layers}`);
  const dir = join(work, `model-${layers}`);
  mkdirSync(base, { recursive: true });
  const cfg = config(layers);
  writeFileSync(join(base, 'config.json'), JSON.stringify(cfg));
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(base, f));
  const spec = parseModelSpec(cfg);
  const w = new HfExportWriter(base, dir, spec, { dtype: 'fp16' });
  const uniform = seededUniform(1);
  for (const t of checkpointLayout(spec).tensors) {
    const values = new Float32Array(t.hfShape.reduce((a, d) => a * d, 1));
    fillNormal(values, 0.02, uniform);
    w.write(t.hfName, values);
  }
  w.finish();
  const bytes = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
  return { dir, bytes };
}

interface Run {
  seconds: number;
  outBytes: number;
  maxRssMB: number;
}

/** One export in a fresh process, so its peak RSS is the export's own. */
function exportOnce(dir: string, dtype: string, out: string): Run {
  const cli = resolve('dist/gguf/cli.js');
  const script = `import { exportGgufCli } from ${JSON.stringify(cli)};
    const t0 = performance.now();
    const r = exportGgufCli({ model: ${JSON.stringify(dir)}, output: ${JSON.stringify(out)}, dtype: ${JSON.stringify(dtype)}, overwrite: true });
    console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, outBytes: r.bytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as Run;
}

function main(): void {
  readSettings();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const rows: Array<Record<string, number | string>> = [];
    for (const layers of LAYERS) {
      const { dir, bytes } = makeModel(layers);
      for (const dtype of DTYPES) {
        const r = exportOnce(dir, dtype, join(work, `out-${layers}-${dtype}.gguf`));
        rows.push({ layers, dtype, model_mb: bytes / 1e6, seconds: r.seconds, in_mb_per_s: bytes / 1e6 / r.seconds, out_mb: r.outBytes / 1e6, max_rss_mb: r.maxRssMB });
        process.stdout.write(
          `${layers} blocks (${(bytes / 1e6).toFixed(0)} MB fp16) -> ${dtype}: ${(bytes / 1e6 / r.seconds).toFixed(0)} MB/s read, ${(r.outBytes / 1e6).toFixed(0)} MB written, peak RSS ${r.maxRssMB.toFixed(0)} MB\n`,
        );
      }
      rmSync(join(work, `model-${layers}`), { recursive: true, force: true });
      for (const dtype of DTYPES) rmSync(join(work, `out-${layers}-${dtype}.gguf`), { force: true });
    }
    const rss = (layers: number, dtype: string): number => Number(rows.find((r) => r.layers === layers && r.dtype === dtype)!.max_rss_mb);
    const small = Math.min(...LAYERS);
    const large = Math.max(...LAYERS);
    const growth = Object.fromEntries(DTYPES.map((d) => [d, rss(large, d) / rss(small, d)]));
    const modelGrowth = Number(rows.find((r) => r.layers === large)!.model_mb) / Number(rows.find((r) => r.layers === small)!.model_mb);
    mkdirSync('bench-results', { recursive: true });
    writeFileAtomic('bench-results/export.json', JSON.stringify({ bench: 'export', date: new Date().toISOString(), command: benchCommand('export'), hidden: HIDDEN, runs: rows, model_size_ratio: modelGrowth, rss_ratio: growth }, null, 2) + '\n');
    process.stdout.write(`model ${modelGrowth.toFixed(2)}x larger -> peak RSS x${DTYPES.map((d) => `${growth[d]!.toFixed(2)} (${d})`).join(', ')}  -> bench-results/export.json\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  console.error(`bench:export: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
