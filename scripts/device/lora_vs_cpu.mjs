// GPU check (check_cuda.sh stage "lora"): LoRA fine-tuning of the shipped tiny model with
// configs/zero3.json plus a lora section (r 8 on every block projection, dropout 0.05) on one GPU
// (bf16, ZeRO-3 over NCCL at world size 1: frozen base sharded and gathered per unit, adapters
// trained, dX-only backward through the base) against the same LoRA run on the CPU in fp32.
//   node scripts/device/lora_vs_cpu.mjs OUT_JSONL WORK_DIR
// (CHECK_DEVICE=cpu runs the "GPU" side on the CPU in bf16: how the tolerances below were measured,
// and how the suite runs the script on every CI run.)
// The base is pretrained first (BASE_STEPS full fp32 steps on the CPU; its final/ is an HF dir
// with weights): over the random base the loss sits at ln(vocab), where bf16 hardly moves it, and
// telechat-export has no base files to merge into. The LoRA lr is 1e-2 (WarmupLR over 3 steps).
// Tolerances, measured with CHECK_DEVICE=cpu (bf16 vs fp32 on the CPU: the same code but for
// the kernels) and against a negative control, an fp32 run with lora_dropout 0 (a kernel that
// drops the dropout mask):
//   per-step loss, relative to the fp32 run: bf16 1.7e-3, control 1.1e-2; TOL 1e-2 (as `train`);
//   the trained adapters, ||X - X_fp32|| / ||X_fp32|| over all lora_B (lora_A) tensors: bf16
//   0.079 (0.059), control 0.43 (0.30); ADAPTER_TOL 0.2, between the two. Adam normalises each
//   gradient, so the adapters measure the gradients' direction, which a wrong kernel changes.
// Then: adapter/ and final/ written, a resume from the step-15 checkpoint equals the uninterrupted
// run exactly, and telechat-export's merge of the last checkpoint equals final/ byte for byte.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outJsonl, work] = process.argv.slice(2);
const DEVICE = process.env.CHECK_DEVICE ?? 'cuda';
const STEPS = 30;
const BASE_STEPS = 20;
const TOL = 1e-2;
const ADAPTER_TOL = 0.2;
let failed = 0;
mkdirSync(work, { recursive: true });
const config = JSON.parse(readFileSync('configs/zero3.json', 'utf8'));
config.training = { ...config.training, max_steps: STEPS, save_steps: 15, save_total_limit: null };
config.optimizer = { ...config.optimizer, params: { ...config.optimizer.params, lr: 1e-2 } };
config.scheduler = { type: 'WarmupLR', params: { warmup_min_lr: 0, warmup_max_lr: 1e-2, warmup_num_steps: 3 } };
config.lora = { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['all-linear'] };
const cfgPath = join(work, 'lora.json');
writeFileSync(cfgPath, JSON.stringify(config));

/** The tensors of a safetensors file as fp32 arrays (F32 or BF16). */
function readTensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const raw = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    const v = new Float32Array(t.dtype === 'BF16' ? raw.length / 2 : raw.length / 4);
    for (let i = 0; i < v.length; i++) v[i] = t.dtype === 'BF16' ? new Float32Array(new Uint32Array([raw.readUInt16LE(2 * i) << 16]).buffer)[0] : raw.readFloatLE(4 * i);
    out.set(name, v);
  }
  return out;
}

/** ||X - Y|| / ||Y|| over the tensors whose names contain `part`. */
function relativeDiff(x, y, part) {
  let num = 0;
  let den = 0;
  for (const [name, b] of y) {
    if (!name.includes(part)) continue;
    const a = x.get(name);
    for (let i = 0; i < b.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
  }
  return Math.sqrt(num / den);
}

function record(obj) {
  appendFileSync(outJsonl, JSON.stringify(obj) + '\n');
  console.log(JSON.stringify(obj));
  if (obj.pass === false) failed++;
}

function train(name, args) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  const t0 = Date.now();
  const res = spawnSync(process.execPath, ['dist/cli/train.js', '--config', cfgPath, '--output-dir', dir, '--model', base, ...args], { encoding: 'utf8' });
  const seconds = (Date.now() - t0) / 1000;
  if (res.status !== 0) {
    record({ check: `lora ${name}`, pass: false, status: res.status, stderr: res.stderr.slice(-3000), stdout: res.stdout.slice(-2000) });
    return null;
  }
  const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const outputs = existsSync(join(dir, 'adapter', 'adapter_model.safetensors')) && existsSync(join(dir, 'final', 'model.safetensors'));
  record({ check: `lora ${name}`, pass: metrics.length === STEPS && outputs, seconds, first: metrics[0].loss, last: metrics.at(-1).loss, outputs, log: res.stdout.split('\n').slice(0, 3) });
  return { dir, metrics };
}

// the pretrained base: full fine-tuning of the random tiny model, fp32 on the CPU
const baseRun = join(work, 'base');
rmSync(baseRun, { recursive: true, force: true });
const made = spawnSync(process.execPath, ['dist/cli/train.js', '--config', 'configs/zero3.json', '--output-dir', baseRun, '--max-steps', String(BASE_STEPS), '--device', 'cpu'], { encoding: 'utf8' });
if (made.status !== 0) {
  record({ check: 'lora base model', pass: false, status: made.status, stderr: made.stderr.slice(-3000) });
  process.exit(1);
}
const base = join(baseRun, 'final');

const cuda = train(`${DEVICE}-bf16`, ['--device', DEVICE, '--set', 'bf16.enabled=true']);
const cpu32 = train('cpu-fp32', ['--device', 'cpu']);
if (cuda && cpu32) {
  let worst = 0;
  let at = 0;
  for (let s = 0; s < STEPS; s++) {
    const rel = Math.abs(cuda.metrics[s].loss - cpu32.metrics[s].loss) / Math.abs(cpu32.metrics[s].loss);
    if (!(rel <= worst)) [worst, at] = [rel, s + 1];
  }
  const drop = (cpu32.metrics[0].loss - cpu32.metrics.at(-1).loss) / cpu32.metrics[0].loss;
  record({ check: `lora ${DEVICE} bf16 vs cpu fp32 losses`, pass: worst <= TOL, max_rel_loss_diff: worst, at_step: at, tol: TOL, fp32_relative_loss_drop: drop });
  const adapters = (run) => readTensors(join(run.dir, 'adapter', 'adapter_model.safetensors'));
  const [ours, ref] = [adapters(cuda), adapters(cpu32)];
  const [relB, relA] = [relativeDiff(ours, ref, 'lora_B'), relativeDiff(ours, ref, 'lora_A')];
  record({ check: `lora ${DEVICE} bf16 vs cpu fp32 adapters`, pass: relB <= ADAPTER_TOL && relA <= ADAPTER_TOL, rel_diff_B: relB, rel_diff_A: relA, tol: ADAPTER_TOL });
}
if (cuda) {
  const mem = cuda.metrics[0].mem;
  record({ check: 'lora cuda loss decreases', pass: cuda.metrics.at(-1).loss < cuda.metrics[0].loss, first: cuda.metrics[0].loss, last: cuda.metrics.at(-1).loss });
  record({ check: 'lora cuda memory table', pass: mem.params > 0 && mem.grads > 0 && mem.grads < mem.params, mem, tokens_per_s: cuda.metrics.at(-1).tokens_per_s });
  const resumed = spawnSync(process.execPath, ['dist/cli/train.js', '--config', cfgPath, '--output-dir', cuda.dir, '--model', base, '--device', DEVICE, '--set', 'bf16.enabled=true',
    '--resume', join(cuda.dir, 'checkpoint-000015')], { encoding: 'utf8' });
  if (resumed.status !== 0) {
    record({ check: 'lora cuda resume from step 15', pass: false, stderr: resumed.stderr.slice(-3000) });
  } else {
    const again = readFileSync(join(cuda.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const diffs = again.slice(15).map((m, i) => Math.abs(m.loss - cuda.metrics[15 + i].loss));
    record({ check: 'lora cuda resume from step 15', pass: again.length === STEPS && Math.max(...diffs) === 0, max_abs_loss_diff: Math.max(...diffs) });
  }
  const merged = join(work, 'merged');
  const exp = spawnSync(process.execPath, ['dist/cli/export.js', '--checkpoint', cuda.dir, '--model', base, '--output', merged, '--overwrite'], { encoding: 'utf8' });
  const same = exp.status === 0 && readFileSync(join(merged, 'model.safetensors')).equals(readFileSync(join(cuda.dir, 'final', 'model.safetensors')));
  record({ check: 'lora telechat-export merge equals final/', pass: same, status: exp.status, stderr: exp.stderr.slice(-2000) });
}
process.exit(failed ? 1 : 0);
