// GPU training-step benchmark, our side (check_cuda.sh stage "train_bench"), paired with
// scripts/device/train_bench.py (PyTorch eager + SDPA flash, same shape, same B x T):
// a ~1.1B TeleChat2-shaped model (hidden 2048, 20 layers, 16 heads of 128, ffn 5504, vocab
// 32000), random init, bf16 with fp32 master weights, micro-batch 4 rows of one ~2k-token
// conversation each. Reports the median tokens/s and MFU (our flops count, vs 989 TFLOP/s
// dense bf16) of the steps after two warm-up steps, and the peak memory table.
//   node scripts/device/train_bench.mjs OUT_JSONL WORK_DIR [STEPS] [DEVICE] [SCALE]
// The run is stopped once the timed steps are in metrics.jsonl: the final save of a 1.1B
// model's ZeRO state (13 GB) would cost more than the benchmark itself. SCALE < 1 shrinks
// the model (a quick check of this script on a CPU machine).
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outJsonl, work, stepsArg = '8', device = 'cuda', scaleArg = '1'] = process.argv.slice(2);
const STEPS = Number(stepsArg);
const WARMUP = 2;
const SCALE = Number(scaleArg);
const B = 4;
const T = 2048;
const PEAK_BF16 = 989e12;

const BENCH_MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: Math.round(2048 * SCALE / 128) * 128, n_layer: Math.max(2, Math.round(20 * SCALE)),
  n_head: Math.max(1, Math.round(16 * SCALE)), num_key_value_heads: Math.max(1, Math.round(16 * SCALE)), ffn_hidden_size: Math.round(5504 * SCALE / 64) * 64,
  vocab_size: 32000, tie_word_embeddings: false, training_seqlen: T, base_seqlen: T, initializer_range: 0.02, layer_norm_epsilon: 1e-5,
};

rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'model'), { recursive: true });
writeFileSync(join(work, 'model', 'config.json'), JSON.stringify(BENCH_MODEL));
for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join('data/tiny-model', f), join(work, 'model', f));

// long conversations: 80 turns each from the shipped samples; the builder keeps the last
// turns that fit 2048 tokens, so each row is one document close to T tokens
const dialogs = readFileSync('data/sample-conversations.jsonl', 'utf8').trim().split('\n').map((l) => JSON.parse(l).dialog);
const turns = dialogs.flat();
const lines = [];
for (let c = 0; c < 64; c++) {
  const dialog = [];
  for (let k = 0; k < 40; k++) {
    const u = turns[(c * 37 + 2 * k) % turns.length];
    const b = turns[(c * 37 + 2 * k + 1) % turns.length];
    dialog.push({ role: 'user', content: u.content }, { role: 'bot', content: b.content });
  }
  lines.push(JSON.stringify({ dialog }));
}
writeFileSync(join(work, 'long.jsonl'), lines.join('\n') + '\n');
const config = {
  train_micro_batch_size_per_gpu: B, gradient_accumulation_steps: 1, gradient_clipping: 1.0, steps_per_print: 1,
  bf16: { enabled: true },
  optimizer: { type: 'AdamW', params: { lr: 1e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.01 } },
  zero_optimization: { stage: 0 },
  data: { pack: false },
  training: { output_dir: join(work, 'out'), max_steps: 1000, max_seq_len: T, seed: 1, save_steps: 0 },
};
writeFileSync(join(work, 'config.json'), JSON.stringify(config));

const args = ['dist/cli/train.js', '--config', join(work, 'config.json'), '--init', 'random', '--model-config', join(work, 'model', 'config.json'),
  '--data', join(work, 'long.jsonl'), '--device', device];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
let stderr = '';
child.stdout.on('data', (d) => (stdout += d));
child.stderr.on('data', (d) => (stderr += d));
const metricsPath = join(work, 'out', 'metrics.jsonl');
const readMetrics = () => (existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const status = await new Promise((resolve) => {
  const timer = setInterval(() => {
    if (readMetrics().length >= WARMUP + STEPS) {
      clearInterval(timer);
      // SIGKILL: SIGTERM is the trainer's clean stop, which finishes the step and saves a checkpoint
      // (the 13 GB above), the very save this stop avoids
      child.kill('SIGKILL');
    }
  }, 200);
  child.on('close', (code, signal) => {
    clearInterval(timer);
    resolve({ code, signal });
  });
});
const metrics = readMetrics();
if (metrics.length < WARMUP + STEPS) {
  const row = { side: 'telechat-train', pass: false, status, stderr: stderr.slice(-3000), stdout: stdout.slice(-2000) };
  appendFileSync(outJsonl, JSON.stringify(row) + '\n');
  console.log(JSON.stringify(row));
  process.exit(1);
}
const timed = metrics.slice(WARMUP, WARMUP + STEPS);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const stepS = median(timed.map((m) => m.step_time_s));
const tokens = median(timed.map((m) => m.tokens));
// FLOPs as src/train/flops.ts counts them, with every row taken at the mean row length for the
// attention term (rows differ by ~10%, which moves the total by ~0.1%: attention is ~8% of it);
// train_bench.py counts PyTorch's rows of that same length the same way.
const spec = BENCH_MODEL;
const D = spec.hidden_size / spec.n_head;
const matmul = spec.n_layer * (spec.hidden_size * (spec.n_head + 2 * spec.num_key_value_heads) * D + spec.n_head * D * spec.hidden_size + 3 * spec.hidden_size * spec.ffn_hidden_size) + spec.vocab_size * spec.hidden_size;
const docLens = timed.map((m) => m.tokens / B);
const flopsPerStep = 6 * matmul * tokens + spec.n_layer * 7 * spec.hidden_size * median(docLens) ** 2 * B;
const row = {
  side: 'telechat-train', device, model: BENCH_MODEL, B, tokens_per_step: tokens, steps: STEPS, step_s: stepS, tokens_per_s: tokens / stepS,
  tflops: flopsPerStep / stepS / 1e12, mfu_989: flopsPerStep / stepS / PEAK_BF16, mfu_vs_measured_gemm: median(timed.map((m) => m.mfu)),
  mem_gib: Object.fromEntries(Object.entries(timed.at(-1).mem).map(([k, v]) => [k, v / 2 ** 30])), log: stdout.split('\n').slice(0, 4),
};
appendFileSync(outJsonl, JSON.stringify(row) + '\n');
console.log(JSON.stringify(row));
