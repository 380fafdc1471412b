// LoRA runs of telechat-train end to end (real processes, Gloo): step 1 is the base model,
// adapter/ is a PEFT adapter and final/ is base + (alpha / r) B A, ZeRO stages 1-3 on 2-3 ranks
// equal one process, checkpoints resume bitwise and reshard, a saved adapter loads back as
// init_adapter bit for bit, telechat-export merges a LoRA checkpoint, and bad input is refused.
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.js';
import { exportGguf } from '../../src/gguf/export.js';
import { HfCanonicalSource, LoraMergedSource } from '../../src/gguf/sources.js';
import { buildDataset } from '../../src/data/builder.js';
import { type Metrics, runAsync, runTrain, TINY_MODEL, TRAIN_CLI, type Fixture, zeroConfig } from '../helpers/train_fixture.js';
import { runPython } from '../helpers/python.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-train');
afterAll(() => tmp.cleanup());
const STEPS = 10;
const R = 4;
const ALPHA = 8;
const TARGETS = ['query', 'key_value', 'dense', 'down_proj'];
let port = 31100 + Math.floor(Math.random() * 300);
let fx: Fixture;
let modelDir: string;
let base: Metrics;
const BASE_OUT = () => join(tmp.dir, 'base');

function config(stage: number, micro: number, gas: number, lora: Record<string, unknown> = {}, training: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const c = zeroConfig(stage, micro, gas, STEPS, extra, { save_steps: 5, ...training });
  return { ...c, optimizer: { type: 'AdamW', params: { ...c.optimizer.params, eps: 1e-6 } }, lora: { r: R, lora_alpha: ALPHA, lora_dropout: 0.1, target_modules: TARGETS, ...lora } };
}

function readAll(path: string): Map<string, Float32Array> {
  const r = new SafetensorsReader(path);
  const m = new Map([...r.tensors.keys()].map((k) => [k, r.readFloat32(k)]));
  r.close();
  return m;
}

/** max |a - b| / max |b| over every tensor of b. */
function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let d = 0;
  let m = 0;
  for (const [k, bv] of b) {
    const av = a.get(k)!;
    expect(av, k).toBeDefined();
    for (let i = 0; i < bv.length; i++) {
      d = Math.max(d, Math.abs(av[i]! - bv[i]!));
      m = Math.max(m, Math.abs(bv[i]!));
    }
  }
  return d / m;
}

async function runFail(out: string, cfg: Record<string, unknown>, extraArgs: string[] = []) {
  const cfgPath = `${out}.config.json`;
  writeFileSync(cfgPath, JSON.stringify(cfg));
  return runAsync([TRAIN_CLI, '--config', cfgPath, '--model', modelDir, '--data', fx.data, '--output-dir', out, ...extraArgs]);
}

beforeAll(async () => {
  modelDir = join(tmp.dir, 'model');
  writeFileSync(join(tmp.dir, 'model.json'), JSON.stringify({ ...TINY_MODEL, model_type: 'telechat', layer_norm_epsilon: 1e-5 }));
  runPython('scripts/reference/telechat_ref.py', ['init', '--config', join(tmp.dir, 'model.json'), '--out', modelDir, '--seed', '3', '--std', '0.05']);
  for (const f of ['tokenizer.model', 'tokenizer_config.json']) cpSync(join('data/tiny-model', f), join(modelDir, f));
  const data = join(tmp.dir, 'data');
  await buildDataset({ input: 'data/sample-conversations.jsonl', tokenizerDir: modelDir, output: data, maxSeqLen: 96, template: 'telechat2', seed: 1 });
  fx = { modelConfig: join(modelDir, 'config.json'), data, model: modelDir };
  base = await runTrain(fx, BASE_OUT(), 1, config(0, 6, 2), port++);
}, 600_000);

describe('LoRA training', () => {
  it('step 1 is the base model (B = 0): the same loss as full fine-tuning, bit for bit; the loss falls', async () => {
    const full = await runTrain(fx, join(tmp.dir, 'full'), 1, { ...zeroConfig(0, 6, 2, STEPS, {}, { max_steps: 1 }), optimizer: config(0, 6, 2).optimizer }, port++);
    expect(base[0]!.loss).toBe(full[0]!.loss);
    expect(base[STEPS - 1]!.loss).toBeLessThan(base[0]!.loss!);
  }, 120_000);

  it('adapter/ is a PEFT adapter; final/ = base + (alpha / r) B A within 1e-6; checkpoints hold adapter/, zero/, trainer_state.json only', () => {
    const out = BASE_OUT();
    const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: R, lora_alpha: ALPHA, lora_dropout: 0.1, target_modules: TARGETS, bias: 'none', fan_in_fan_out: false, inference_mode: true });
    expect(typeof cfg.base_model_name_or_path).toBe('string');
    const ad = readAll(join(out, 'adapter', 'adapter_model.safetensors'));
    const baseW = readAll(join(modelDir, 'model.safetensors'));
    const fin = readAll(join(out, 'final', 'model.safetensors'));
    const H = 48;
    const mods: Record<string, [number, number]> = { 'self_attention.query': [H, H], 'self_attention.key_value': [2 * 2 * 12, H], 'self_attention.dense': [H, H], 'mlp.down_proj': [H, 80] };
    expect(ad.size).toBe(2 * 2 * Object.keys(mods).length);
    let worst = 0;
    let moved = 0;
    for (const name of baseW.keys()) {
      const m = /^transformer\.h\.(\d+)\.(.+)\.weight$/.exec(name);
      const mod = m ? mods[m[2]!] : undefined;
      if (!mod) {
        expect(Buffer.from(fin.get(name)!.buffer).equals(Buffer.from(baseW.get(name)!.buffer)), `${name} unchanged`).toBe(true);
        continue;
      }
      const [out_, in_] = mod;
      const A = ad.get(`base_model.model.${name.slice(0, -'.weight'.length)}.lora_A.weight`)!;
      const B = ad.get(`base_model.model.${name.slice(0, -'.weight'.length)}.lora_B.weight`)!;
      expect([A.length, B.length]).toEqual([R * in_, out_ * R]);
      const W = baseW.get(name)!;
      const F = fin.get(name)!;
      for (let o = 0; o < out_; o++) {
        for (let i = 0; i < in_; i++) {
          let s = 0;
          for (let k = 0; k < R; k++) s += B[o * R + k]! * A[k * in_ + i]!;
          const want = W[o * in_ + i]! + (ALPHA / R) * s;
          worst = Math.max(worst, Math.abs(F[o * in_ + i]! - want));
          moved = Math.max(moved, Math.abs(F[o * in_ + i]! - W[o * in_ + i]!));
        }
      }
    }
    expect(worst).toBeLessThan(1e-6);
    expect(moved).toBeGreaterThan(1e-3); // the adapters did train
    const ck = join(out, 'checkpoint-000005');
    expect(['adapter', 'zero', 'trainer_state.json'].every((f) => existsSync(join(ck, f)))).toBe(true);
    expect(existsSync(join(ck, 'hf'))).toBe(false);
  });

  it('telechat-export merges a LoRA checkpoint into its base: equal to final/ for the last one', async () => {
    const dest = join(tmp.dir, 'exported');
    const res = await runAsync(['dist/cli/export.js', '--checkpoint', BASE_OUT(), '--model', modelDir, '--output', dest]);
    expect(res.status, res.stderr).toBe(0);
    expect(relDiff(readAll(join(dest, 'model.safetensors')), readAll(join(BASE_OUT(), 'final', 'model.safetensors')))).toBe(0);
  }, 60_000);

  it('an output dir exports its latest checkpoint, not an older adapter/ beside it', async () => {
    // a finished run resumed and stopped again leaves adapter/ from the first finish: stand that in
    // by putting checkpoint 5's adapters in adapter/ of a copy; latest still names checkpoint 10
    const copy = join(tmp.dir, 'stale-adapter-out');
    cpSync(BASE_OUT(), copy, { recursive: true });
    cpSync(join(copy, 'checkpoint-000005', 'adapter'), join(copy, 'adapter'), { recursive: true });
    const dest = join(tmp.dir, 'exported-latest');
    const res = await runAsync(['dist/cli/export.js', '--checkpoint', copy, '--model', modelDir, '--output', dest]);
    expect(res.status, res.stderr).toBe(0);
    expect(relDiff(readAll(join(dest, 'model.safetensors')), readAll(join(BASE_OUT(), 'final', 'model.safetensors')))).toBe(0);
  }, 60_000);

  it('bf16 over a pretrained base: final/ merges into the base as stored, not its bf16 training copy (= telechat-export)', async () => {
    const out = join(tmp.dir, 'bf16');
    await runTrain(fx, out, 1, config(0, 6, 2, {}, { max_steps: 2 }, { bf16: { enabled: true } }), port++);
    const baseW = readAll(join(modelDir, 'model.safetensors'));
    const fin = readAll(join(out, 'final', 'model.safetensors'));
    // tensors no adapter touches keep the base's bits (a bf16 round trip would move the norms)
    const untouched = [...baseW.keys()].filter((k) => !TARGETS.some((t) => k.includes(`.${t}.`)));
    expect(untouched.length).toBeGreaterThan(4);
    for (const k of untouched) expect(Buffer.from(fin.get(k)!.buffer).equals(Buffer.from(baseW.get(k)!.buffer)), k).toBe(true);
    const dest = join(tmp.dir, 'bf16-exported');
    const res = await runAsync(['dist/cli/export.js', '--checkpoint', out, '--model', modelDir, '--output', dest]);
    expect(res.status, res.stderr).toBe(0);
    expect(relDiff(readAll(join(dest, 'model.safetensors')), fin)).toBe(0);
  }, 120_000);

  it('an adapter_config.json field that does not apply here is a warning naming it, as PEFT warns', async () => {
    // fan_in_fan_out true on nn.Linear modules: PEFT reads it as false with a warning, and so do we
    const adapter = join(tmp.dir, 'adapter-fan-in-fan-out');
    cpSync(join(BASE_OUT(), 'adapter'), adapter, { recursive: true });
    const cfgPath = join(adapter, 'adapter_config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), fan_in_fan_out: true, revision: 'v1.0' }));
    const dest = join(tmp.dir, 'exported-fan-in-fan-out');
    const res = await runAsync(['dist/cli/export.js', '--checkpoint', adapter, '--model', modelDir, '--output', dest]);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stderr.trim().split('\n')).toEqual([
      `telechat-export: warning: ${cfgPath}: fan_in_fan_out is true, but the base's target modules are nn.Linear; read as false, as PEFT does`,
      `telechat-export: warning: ${cfgPath}: revision "v1.0" has no effect: the base is the local dir ${modelDir}`,
    ]);
    expect(relDiff(readAll(join(dest, 'model.safetensors')), readAll(join(BASE_OUT(), 'final', 'model.safetensors')))).toBe(0);
  }, 60_000);

  it('--format gguf of a LoRA checkpoint merges as it converts: the same file as converting the merged export', async () => {
    // the HF export merged in fp32, then converted; against the direct conversion (same name in both)
    const merged = join(tmp.dir, 'merged-fp32');
    const res = await runAsync(['dist/cli/export.js', '--checkpoint', BASE_OUT(), '--model', modelDir, '--dtype', 'fp32', '--output', merged]);
    expect(res.status, res.stderr).toBe(0);
    const direct = join(tmp.dir, 'lora-direct.gguf');
    const viaMerged = join(tmp.dir, 'lora-merged.gguf');
    for (const [src, out] of [[new LoraMergedSource(join(BASE_OUT(), 'adapter'), modelDir, (m) => { throw new Error(`unexpected warning: ${m}`); }), direct], [new HfCanonicalSource(merged), viaMerged]] as const) {
      try {
        exportGguf(src, out, 'fp32', { name: 'x' });
      } finally {
        src.close();
      }
    }
    expect(readFileSync(direct).equals(readFileSync(viaMerged))).toBe(true);
    // and through the command line, the base from the adapter's base_model_name_or_path
    const cliOut = join(tmp.dir, 'lora-cli.gguf');
    const cli = await runAsync(['dist/cli/export.js', '--checkpoint', BASE_OUT(), '--format', 'gguf', '--output', cliOut]);
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/wrote .*lora-cli\.gguf: \d+ tensors/);
    // --model beside a --checkpoint that holds no adapters is one clear error
    const bad = await runAsync(['dist/cli/export.js', '--checkpoint', modelDir, '--model', modelDir, '--format', 'gguf', '--output', join(tmp.dir, 'bad.gguf')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--model with --checkpoint is the base of a LoRA checkpoint');
    expect(existsSync(join(tmp.dir, 'bad.gguf'))).toBe(false);
  }, 120_000);

  it.each([
    [1, 2, 3, 2],
    [2, 3, 2, 2],
    [3, 2, 6, 1],
    [3, 3, 2, 2],
  ])('ZeRO stage %i on %i ranks (micro %i x accumulation %i) equals one process within 1e-5', async (stage, ranks, micro, gas) => {
    const out = join(tmp.dir, `s${stage}-n${ranks}`);
    const m = await runTrain(fx, out, ranks, config(stage, micro, gas), port++);
    for (let s = 0; s < STEPS; s++) expect(Math.abs(m[s]!.loss! - base[s]!.loss!) / base[s]!.loss!, `step ${s + 1}`).toBeLessThan(1e-5);
    expect(relDiff(readAll(join(out, 'adapter', 'adapter_model.safetensors')), readAll(join(BASE_OUT(), 'adapter', 'adapter_model.safetensors')))).toBeLessThan(1e-5);
  }, 180_000);

  it('resumes from checkpoint-5 bitwise (fp32), and resharded on 2 ranks with stage 3 within 1e-5', async () => {
    const key = (x: Metrics[number]) => [x.step, x.loss, x.lr, x.grad_norm];
    const one = join(tmp.dir, 'resume-1');
    cpSync(BASE_OUT(), one, { recursive: true });
    const m = await runTrain(fx, one, 1, config(0, 6, 2), port++, ['--resume', join(one, 'checkpoint-000005')]);
    expect(m.map(key)).toEqual(base.map(key));
    const a = readAll(join(one, 'adapter', 'adapter_model.safetensors'));
    expect(relDiff(a, readAll(join(BASE_OUT(), 'adapter', 'adapter_model.safetensors')))).toBe(0);
    const two = join(tmp.dir, 'resume-2');
    cpSync(BASE_OUT(), two, { recursive: true });
    const m2 = await runTrain(fx, two, 2, config(3, 3, 2), port++, ['--resume', join(two, 'checkpoint-000005')]);
    for (let s = 5; s < STEPS; s++) expect(Math.abs(m2[s]!.loss! - base[s]!.loss!) / base[s]!.loss!, `step ${s + 1}`).toBeLessThan(1e-5);
  }, 180_000);

  it('a resume whose target_modules select the same modules under another spelling continues the run', async () => {
    const out = join(tmp.dir, 'resume-dotted');
    cpSync(BASE_OUT(), out, { recursive: true });
    const dotted = ['self_attention.query', 'self_attention.key_value', 'self_attention.dense', 'mlp.down_proj'];
    const m = await runTrain(fx, out, 1, config(0, 6, 2, { target_modules: dotted }), port++, ['--resume', join(out, 'checkpoint-000005')]);
    expect(m.map((x) => x.loss)).toEqual(base.map((x) => x.loss));
    // other modules are another run
    const other = await runFail(join(tmp.dir, 'resume-other-targets'), config(0, 6, 2, { target_modules: ['query'] }), ['--resume', join(out, 'checkpoint-000005')]);
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/cannot resume a different run: LoRA r 4, alpha 8, dropout 0\.1, targets query,key_value,dense,down_proj -> LoRA r 4, alpha 8, dropout 0\.1, targets query/);
    // another dropout is a hyperparameter change, like the lr: the resume goes on, saying so
    const drop = join(tmp.dir, 'resume-dropout');
    cpSync(BASE_OUT(), drop, { recursive: true });
    const ckpt = join(drop, 'checkpoint-000005');
    const d = await runFail(drop, config(0, 6, 2, { lora_dropout: 0.2 }), ['--resume', ckpt, '--dry-run']);
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toContain(`warning: --resume ${ckpt}: lora.dropout 0.1 -> 0.2: its 5 step(s) trained with 0.1, steps 6 on with 0.2`);
  }, 120_000);

  it('a resume over another --model than the adapters were trained over says so (the base is not in the checkpoint)', async () => {
    const out = join(tmp.dir, 'resume-moved-base');
    cpSync(BASE_OUT(), out, { recursive: true });
    const moved = join(tmp.dir, 'model-moved');
    cpSync(modelDir, moved, { recursive: true });
    const m = await runTrain({ ...fx, model: moved }, out, 1, config(0, 6, 2), port++, ['--resume', join(out, 'checkpoint-000005')]);
    expect(m.map((x) => x.loss)).toEqual(base.map((x) => x.loss)); // the same weights: the same run
    const ckAdapter = join(out, 'checkpoint-000005', 'adapter', 'adapter_config.json');
    expect(readFileSync(join(out, 'train.log'), 'utf8')).toContain(`warning: ${ckAdapter}: the adapters were trained over ${modelDir}; this run's base is ${moved}`);
    // resumed over the base it was trained over: no such line
    expect(readFileSync(join(tmp.dir, 'resume-1', 'train.log'), 'utf8')).not.toContain('the adapters were trained over');
  }, 120_000);

  it('an adapter we saved loads back as init_adapter bit for bit, also as adapter_model.bin (PEFT before 0.7)', async () => {
    const out = join(tmp.dir, 'init');
    const cfg = config(0, 6, 2, { init_adapter: join(BASE_OUT(), 'adapter') }, { max_steps: 1, save_steps: 0 });
    await runTrain(fx, out, 1, { ...cfg, optimizer: { type: 'AdamW', params: { ...cfg.optimizer.params, lr: 0 } }, scheduler: undefined }, port++);
    const a = readAll(join(out, 'adapter', 'adapter_model.safetensors'));
    const b = readAll(join(BASE_OUT(), 'adapter', 'adapter_model.safetensors'));
    for (const [k, v] of b) expect(Buffer.from(a.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    // the same adapter as PEFT before 0.7 saved it (adapter_model.bin, torch.save), written by PyTorch
    const binDir = join(tmp.dir, 'adapter-bin');
    runPython('scripts/reference/torch_bin_fixtures.py', ['adapter-to-bin', '--adapter', join(BASE_OUT(), 'adapter'), '--out', binDir]);
    const outBin = join(tmp.dir, 'init-bin');
    const cfgBin = config(0, 6, 2, { init_adapter: binDir }, { max_steps: 1, save_steps: 0 });
    await runTrain(fx, outBin, 1, { ...cfgBin, optimizer: { type: 'AdamW', params: { ...cfgBin.optimizer.params, lr: 0 } }, scheduler: undefined }, port++);
    const c = readAll(join(outBin, 'adapter', 'adapter_model.safetensors'));
    for (const [k, v] of b) expect(Buffer.from(c.get(k)!.buffer).equals(Buffer.from(v.buffer)), `${k} via adapter_model.bin`).toBe(true);
  }, 90_000);

  it('a resume does not read the init_adapter (the checkpoint holds the adapters): the run continues after that dir is gone', async () => {
    const adapter = join(tmp.dir, 'init-once');
    cpSync(join(BASE_OUT(), 'adapter'), adapter, { recursive: true });
    const out = join(tmp.dir, 'init-resume');
    await runTrain(fx, out, 1, config(0, 6, 2, { init_adapter: adapter }, { max_steps: 1, save_steps: 0 }), port++);
    rmSync(adapter, { recursive: true });
    const m = await runTrain(fx, out, 1, config(0, 6, 2, { init_adapter: adapter }, { max_steps: 2, save_steps: 0 }), port++, ['--resume', 'auto']);
    expect(m.map((x) => x.step)).toEqual([1, 2]);
    expect(existsSync(join(out, 'checkpoint-000002', 'adapter', 'adapter_model.safetensors'))).toBe(true);
  }, 90_000);

  it('bad input: unknown module (lists the layout\'s), r <= 0, an adapter of another base shape or alpha, PEFT options we lack', async () => {
    const unknown = await runFail(join(tmp.dir, 'bad-module'), config(0, 6, 2, { target_modules: ['c_attn'] }));
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown module "c_attn" for the telechat layout; its modules are query, key_value, dense, gate_proj, up_proj, down_proj/);
    const r0 = await runFail(join(tmp.dir, 'bad-r'), config(0, 6, 2, { r: 0 }));
    expect(r0.status).not.toBe(0);
    expect(r0.stderr).toMatch(/lora\.r/);
    const dora = await runFail(join(tmp.dir, 'bad-dora'), config(0, 6, 2, { use_dora: true }));
    expect(dora.status).not.toBe(0);
    expect(dora.stderr).toMatch(/use_dora/);
    // an adapter for a model with a wider MLP: down_proj's A is [r, 96], not [r, 80]
    const other = join(tmp.dir, 'other-adapter');
    cpSync(join(BASE_OUT(), 'adapter'), other, { recursive: true });
    const t = readAll(join(other, 'adapter_model.safetensors'));
    const tensors = [...t.entries()].map(([name, v]) => {
      const wide = name.endsWith('down_proj.lora_A.weight') ? new Float32Array(R * 96) : v;
      const info = new SafetensorsReader(join(BASE_OUT(), 'adapter', 'adapter_model.safetensors'));
      const shape = name.endsWith('down_proj.lora_A.weight') ? [R, 96] : info.info(name).shape;
      info.close();
      return { name, dtype: 'F32' as const, shape, data: () => new Uint8Array(wide.buffer) };
    });
    const { writeSafetensors } = await import('../../src/checkpoint/safetensors.js');
    writeSafetensors(join(other, 'adapter_model.safetensors'), tensors);
    const shape = await runFail(join(tmp.dir, 'bad-shape'), config(0, 6, 2, { init_adapter: other }));
    expect(shape.status).not.toBe(0);
    expect(shape.stderr).toMatch(/down_proj\.lora_A\.weight has shape \[4, 96\], expected \[4, 80\]/);
    expect(existsSync(join(tmp.dir, 'bad-shape', 'final'))).toBe(false);
    // an adapter trained under another alpha (its B would be rescaled silently)
    const alpha = await runFail(join(tmp.dir, 'bad-alpha'), config(0, 6, 2, { init_adapter: join(BASE_OUT(), 'adapter'), lora_alpha: ALPHA * 2 }));
    expect(alpha.status).not.toBe(0);
    expect(alpha.stderr).toMatch(new RegExp(`adapter lora_alpha = ${ALPHA}, but lora\\.alpha = ${ALPHA * 2}`));
    // --dry-run checks the init_adapter too: the same error, and the unused lora_dropout's warning
    const dryAlpha = await runFail(join(tmp.dir, 'dry-alpha'), config(0, 6, 2, { init_adapter: join(BASE_OUT(), 'adapter'), lora_alpha: ALPHA * 2 }), ['--dry-run']);
    expect(dryAlpha.status).not.toBe(0);
    expect(dryAlpha.stderr).toMatch(new RegExp(`adapter lora_alpha = ${ALPHA}, but lora\\.alpha = ${ALPHA * 2}`));
    const dryDropout = await runFail(join(tmp.dir, 'dry-dropout'), config(0, 6, 2, { init_adapter: join(BASE_OUT(), 'adapter'), lora_dropout: 0.2 }), ['--dry-run']);
    expect(dryDropout.status, dryDropout.stderr).toBe(0);
    expect(dryDropout.stdout + dryDropout.stderr).toContain(`warning: lora.init_adapter ${join(BASE_OUT(), 'adapter')}: its lora_dropout 0.1 is not used; this run trains with lora.dropout = 0.2`);
  }, 120_000);

  it('evaluation sees the adapters: eval loss of a LoRA run (stage 3, 2 ranks) equals that of its merged model (lr 0, within 1e-5)', async () => {
    // lr 0 keeps every weight as loaded: the LoRA run evaluates base + adapters (the 10-step
    // adapter of the base run, B != 0), the full run evaluates base run's final/ (the same
    // adapters merged). Were the adapters left out of evaluation, the two would differ by what
    // 10 steps of training changed.
    const still = (c: Record<string, unknown>) => ({ ...c, scheduler: undefined, optimizer: { type: 'AdamW', params: { lr: 0, betas: [0.9, 0.95], eps: 1e-6, weight_decay: 0 } } });
    const evalOf = (out: string) => JSON.parse(readFileSync(join(out, 'eval.jsonl'), 'utf8').trim().split('\n').pop()!) as { eval_loss: number };
    const loraOut = join(tmp.dir, 'eval-lora');
    const loraCfg = still(config(3, 6, 1, { init_adapter: join(BASE_OUT(), 'adapter') }, { max_steps: 1, eval_steps: 0 }));
    await runTrain(fx, loraOut, 2, loraCfg, port++, ['--eval-data', fx.data]);
    const mergedOut = join(tmp.dir, 'eval-merged');
    const fullCfg = still(zeroConfig(0, 6, 2, 1, {}, { max_steps: 1, eval_steps: 0 }));
    await runTrain({ ...fx, model: join(BASE_OUT(), 'final') }, mergedOut, 1, fullCfg, port++, ['--eval-data', fx.data]);
    const a = evalOf(loraOut).eval_loss;
    const b = evalOf(mergedOut).eval_loss;
    const baseOut = join(tmp.dir, 'eval-base');
    await runTrain(fx, baseOut, 1, fullCfg, port++, ['--eval-data', fx.data]);
    const baseOnly = evalOf(baseOut).eval_loss; // the base model without adapters
    expect(Math.abs(a - b) / b, `${a} vs ${b}`).toBeLessThan(1e-5);
    expect(Math.abs(a - baseOnly) / baseOnly, `${a} vs base ${baseOnly}`).toBeGreaterThan(1e-3);
  }, 240_000);
});

