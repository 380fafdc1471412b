// GPU check (check_cuda.sh stage "lora"): LoRA fine-tuning of the shipped tiny model with
// configs/zero3.json plus a lora section (r 8 on every block projection, dropout 0.05) on one GPU
// (bf16, ZeRO-3 over NCCL at world size 1: frozen base sharded and gathered per unit, adapters
// trained, dX-only backward through the base) against the same LoRA run on the CPU in fp32.
//   node scripts/device/lora_vs_cpu.mjs OUT_JSONL WORK_DIR
// Tolerance: per-step loss within 1e-2 relative of the fp32 CPU run, as the `train` stage
// (train_vs_cpu.mjs: bf16 storage vs fp32 moves the loss by ~5e-4 over 50 steps; a wrong kernel
// moves it by whole percents). Then: adapter/ and final/ written, a resume from the step-15
// checkpoint equals the uninterrupted run exactly, and telechat-export's merge of the last
// checkpoint equals final/ byte for byte.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outJsonl, work] = process.argv.slice(2);
const STEPS = 30;
const TOL = 1e-2;
let failed = 0;
mkdirSync(work, { recursive: true });
const config = JSON.parse(readFileSync('configs/zero3.json', 'utf8'));
config.training = { ...config.training, max_steps: STEPS, save_steps: 15, save_total_limit: null };
config.lora = { r: 8, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['all-linear'] };
const cfgPath = join(work, 'lora.json');
writeFileSync(cfgPath, JSON.stringify(config));

function record(obj) {
  appendFileSync(outJsonl, JSON.stringify(obj) + '\n');
  console.log(JSON.stringify(obj));
  if (obj.pass === false) failed++;
}

function train(name, args) {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  const t0 = Date.now();
  const res = spawnSync(process.execPath, ['dist/cli/train.js', '--config', cfgPath, '--output-dir', dir, ...args], { encoding: 'utf8' });
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

const cuda = train('cuda-bf16', ['--device', 'cuda', '--set', 'bf16.enabled=true']);
const cpu32 = train('cpu-fp32', ['--device', 'cpu']);
if (cuda && cpu32) {
  let worst = 0;
  let at = 0;
  for (let s = 0; s < STEPS; s++) {
    const rel = Math.abs(cuda.metrics[s].loss - cpu32.metrics[s].loss) / Math.abs(cpu32.metrics[s].loss);
    if (!(rel <= worst)) [worst, at] = [rel, s + 1];
  }
  record({ check: 'lora cuda bf16 vs cpu fp32 losses', pass: worst <= TOL, max_rel_loss_diff: worst, at_step: at, tol: TOL });
}
if (cuda) {
  const mem = cuda.metrics[0].mem;
  record({ check: 'lora cuda loss decreases', pass: cuda.metrics.at(-1).loss < cuda.metrics[0].loss, first: cuda.metrics[0].loss, last: cuda.metrics.at(-1).loss });
  record({ check: 'lora cuda memory table', pass: mem.params > 0 && mem.grads > 0 && mem.grads < mem.params, mem, tokens_per_s: cuda.metrics.at(-1).tokens_per_s });
  const resumed = spawnSync(process.execPath, ['dist/cli/train.js', '--config', cfgPath, '--output-dir', cuda.dir, '--device', 'cuda', '--set', 'bf16.enabled=true',
    '--resume', join(cuda.dir, 'checkpoint-000015')], { encoding: 'utf8' });
  if (resumed.status !== 0) {
    record({ check: 'lora cuda resume from step 15', pass: false, stderr: resumed.stderr.slice(-3000) });
  } else {
    const again = readFileSync(join(cuda.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const diffs = again.slice(15).map((m, i) => Math.abs(m.loss - cuda.metrics[15 + i].loss));
    record({ check: 'lora cuda resume from step 15', pass: again.length === STEPS && Math.max(...diffs) === 0, max_abs_loss_diff: Math.max(...diffs) });
  }
  const merged = join(work, 'merged');
  const exp = spawnSync(process.execPath, ['dist/cli/export.js', '--checkpoint', cuda.dir, '--output', merged, '--overwrite'], { encoding: 'utf8' });
  const same = exp.status === 0 && readFileSync(join(merged, 'model.safetensors')).equals(readFileSync(join(cuda.dir, 'final', 'model.safetensors')));
  record({ check: 'lora telechat-export merge equals final/', pass: same, status: exp.status, stderr: exp.stderr.slice(-2000) });
}
process.exit(failed ? 1 : 0);
