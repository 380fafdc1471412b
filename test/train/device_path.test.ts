// The --device cuda code path without a GPU: the trainer, the ZeRO engine and the model run
// on 'cuda' tensors through the cuda backend (its argument and device checks included) and a
// device communicator, over the stand-in CUDA runtime of src/native/host_cuda.ts. Its device
// addresses are non-canonical, so any host access of device memory would crash the run. The
// stand-in executes the CPU kernels, so the result must equal the CPU run bit for bit; what
// this proves is the wiring (every tensor on the device, nothing read behind the backend's
// back). The real kernels are checked on a GPU by scripts/device/check_cuda.sh.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, LAUNCH_CLI, type Metrics, makeFixture, runAsync, TRAIN_CLI, zeroConfig } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';
import { writeFileSync } from 'node:fs';

const WORKER = resolve('test/train/workers/standin_train.mjs');
const tmp = makeTmpDir('device-path');
afterAll(() => tmp.cleanup());
let fx: Fixture;
let port = 29950 + Math.floor(Math.random() * 40);
const STEPS = 6;

// head dim 32 with GQA 2/1: a shape the CUDA FlashAttention-2 kernels support
const MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: 64, n_layer: 2, n_head: 2, num_key_value_heads: 1,
  ffn_hidden_size: 96, vocab_size: 4000, tie_word_embeddings: false, training_seqlen: 96, initializer_range: 0.05,
};

interface Report {
  host: Record<string, number>;
  device: Record<string, number> | null;
  calls: Record<string, number> | null;
}

async function runWorker(device: 'standin' | 'cpu', stage: number, ranks: number, name: string, zero: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, training: Record<string, unknown> = {}): Promise<{ out: string; metrics: Metrics; reports: Report[] }> {
  const out = join(tmp.dir, name);
  const micro = ranks === 1 ? 6 : 3;
  const cfg = join(tmp.dir, `${name}.json`);
  const config = zeroConfig(stage, micro, 2, STEPS, { bf16: { enabled: true }, ...extra }, training);
  Object.assign(config.zero_optimization, zero);
  writeFileSync(cfg, JSON.stringify(config));
  const args = [LAUNCH_CLI, '--nproc-per-node', String(ranks), '--master-port', String(port++), '--', process.execPath, WORKER, device, cfg, fx.modelConfig, fx.data, out];
  const res = await runAsync(args);
  if (res.status !== 0) throw new Error(`${name} failed (${res.status}):\n${res.stderr}\n${res.stdout.slice(-2000)}`);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Metrics[number]);
  const reports = Array.from({ length: ranks }, (_, r) => JSON.parse(readFileSync(join(out, `report-rank${r}.json`), 'utf8')) as Report);
  return { out, metrics, reports };
}

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL);
}, 120_000);

describe('training on cuda tensors (stand-in runtime) equals the CPU run', () => {
  it.each([
    [0, 2],
    [2, 1],
    [3, 2],
  ])('ZeRO stage %i on %i rank(s), bf16', async (stage, ranks) => {
    const [dev, cpu] = await Promise.all([
      runWorker('standin', stage, ranks, `standin-s${stage}-n${ranks}`),
      runWorker('cpu', stage, ranks, `cpu-s${stage}-n${ranks}`),
    ]);
    expect(dev.metrics.length).toBe(STEPS);
    for (let s = 0; s < STEPS; s++) {
      expect(dev.metrics[s]!.loss, `step ${s + 1} loss`).toBe(cpu.metrics[s]!.loss);
      expect(dev.metrics[s]!.grad_norm, `step ${s + 1} grad norm`).toBe(cpu.metrics[s]!.grad_norm);
    }
    expect(dev.metrics[STEPS - 1]!.loss).toBeLessThan(dev.metrics[0]!.loss!);
    expect(readFileSync(join(dev.out, 'final', 'model.safetensors')).equals(readFileSync(join(cpu.out, 'final', 'model.safetensors')))).toBe(true);
    // the memory table of metrics.jsonl reports the device's allocator on a cuda run (which
    // rounds as the caching pool does, so never under the host's count)
    expect(dev.metrics[0]!.mem.params).toBe(dev.reports[0]!.device!.params);
    expect(dev.metrics[0]!.mem.optim).toBe(dev.reports[0]!.device!.optim);
    expect(dev.metrics[0]!.mem.params).toBeGreaterThanOrEqual(cpu.metrics[0]!.mem.params!);
    for (const r of dev.reports) {
      // model state and activations never touched host memory on the device run ...
      for (const cat of ['params', 'grads', 'master', 'optim', 'activations']) {
        expect(r.host[cat], `host ${cat}`).toBe(0);
        expect(r.device![cat], `device ${cat}`).toBeGreaterThan(0);
      }
      // ... and the compute went through the cuda functions
      for (const fn of ['cudaAttentionForward', 'cudaLinearForward', 'cudaAdamwStep']) expect(r.calls![fn], fn).toBeGreaterThan(0);
    }
    for (const r of cpu.reports) expect(r.host.params).toBeGreaterThan(0);
  }, 300_000);
});

describe('evaluation on the device', () => {
  it('eval_loss on cuda tensors at ZeRO stage 3 (2 ranks) equals the CPU run bit for bit, with no host activations', async () => {
    // the training rows double as the eval set: this checks the wiring of the forward-only path
    const training = { eval_data: fx.data, eval_steps: 3 };
    const [dev, cpu] = await Promise.all([
      runWorker('standin', 3, 2, 'standin-eval', {}, {}, training),
      runWorker('cpu', 3, 2, 'cpu-eval', {}, {}, training),
    ]);
    const evals = (out: string) => readFileSync(join(out, 'eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; eval_loss: number });
    expect(evals(dev.out).map((e) => e.step)).toEqual([3, 6]);
    expect(evals(dev.out)).toEqual(evals(cpu.out));
    for (const r of dev.reports) {
      expect(r.host.activations, 'host activations').toBe(0);
      expect(r.host.params, 'host params').toBe(0);
    }
  }, 300_000);
});

describe('residual dropout on the device', () => {
  it('hidden_dropout 0.1 through the cuda dropout functions equals the CPU run bit for bit', async () => {
    const extra = { model: { hidden_dropout: 0.1 } };
    const [dev, cpu] = await Promise.all([
      runWorker('standin', 2, 1, 'standin-dropout', {}, extra),
      runWorker('cpu', 2, 1, 'cpu-dropout', {}, extra),
    ]);
    expect(dev.metrics.map((m) => [m.loss, m.grad_norm])).toEqual(cpu.metrics.map((m) => [m.loss, m.grad_norm]));
    expect(readFileSync(join(dev.out, 'final', 'model.safetensors')).equals(readFileSync(join(cpu.out, 'final', 'model.safetensors')))).toBe(true);
    // 2 layers x 2 branches per micro-step, forward and backward; the backward also recomputes
    // each block's attention residual x2 (block.ts), through the same masked add
    expect(dev.reports[0]!.calls!.cudaDropoutBackward).toBe(STEPS * 2 * 4);
    expect(dev.reports[0]!.calls!.cudaDropoutAddForward).toBe(STEPS * 2 * (4 + 2));
  }, 300_000);
});

describe('ZeRO-Offload on the device', () => {
  it('keeps master weights and moments in host memory and trains exactly as without offload', async () => {
    const offload = { offload_optimizer: { device: 'cpu' } };
    const [dev, cpu] = await Promise.all([
      runWorker('standin', 2, 1, 'standin-offload', offload),
      runWorker('standin', 2, 1, 'standin-s2-plain'),
    ]);
    for (let s = 0; s < STEPS; s++) expect(dev.metrics[s]!.loss, `step ${s + 1}`).toBe(cpu.metrics[s]!.loss);
    expect(readFileSync(join(dev.out, 'final', 'model.safetensors')).equals(readFileSync(join(cpu.out, 'final', 'model.safetensors')))).toBe(true);
    const r = dev.reports[0]!;
    for (const cat of ['master', 'optim']) {
      expect(r.host[cat], `host ${cat}`).toBeGreaterThan(0);
      expect(r.device![cat], `device ${cat}`).toBe(0);
    }
    for (const cat of ['params', 'grads']) expect(r.device![cat], `device ${cat}`).toBeGreaterThan(0);
    expect(r.calls!.cudaAdamwStep ?? 0).toBe(0); // the update ran on the CPU
    expect(readFileSync(join(dev.out, 'train.log'), 'utf8')).toContain('AdamW on the CPU');
  }, 300_000);

  // ZeRO-3 with offload_param (threshold 0: every unit sharded), with and without the optimizer
  // offloaded too: the parameter chunks live in host memory and are uploaded for each gather
  it.each([
    ['offload_param and offload_optimizer', { offload_param: { device: 'cpu' }, offload_optimizer: { device: 'cpu' } }, 0],
    ['offload_param alone', { offload_param: { device: 'cpu' } }, 1],
  ])('stage 3 on 2 ranks with %s equals the run without offload', async (_what, zero, adamOnDevice) => {
    const name = `standin-s3-${adamOnDevice ? 'param' : 'both'}`;
    const [dev, plain] = await Promise.all([runWorker('standin', 3, 2, name, zero), runWorker('standin', 3, 2, `${name}-plain`)]);
    for (let s = 0; s < STEPS; s++) expect(dev.metrics[s]!.loss, `step ${s + 1}`).toBe(plain.metrics[s]!.loss);
    expect(readFileSync(join(dev.out, 'final', 'model.safetensors')).equals(readFileSync(join(plain.out, 'final', 'model.safetensors')))).toBe(true);
    for (const r of dev.reports) {
      expect(r.host.params, 'host params').toBeGreaterThan(0);
      expect(r.device!.params, 'device params').toBe(0);
      expect(r.device!.buffers, 'gathered units on the device').toBeGreaterThan(0);
      expect((r.calls!.cudaAdamwStep ?? 0) > 0 ? 1 : 0, 'where AdamW ran').toBe(adamOnDevice);
    }
    expect(readFileSync(join(dev.out, 'train.log'), 'utf8')).toContain('offload_param.device "cpu": parameter chunks of sharded units in host memory');
  }, 300_000);
});

describe('--device on this machine', () => {
  it('cuda without a GPU is one clear error, and auto falls back to the CPU', async () => {
    const cfg = join(tmp.dir, 'bf16.json');
    writeFileSync(cfg, JSON.stringify(zeroConfig(0, 6, 2, 4, { bf16: { enabled: true } })));
    const common = [TRAIN_CLI, '--config', cfg, '--init', 'random', '--model-config', fx.modelConfig, '--data', fx.data];
    const cuda = await runAsync([...common, '--output-dir', join(tmp.dir, 'cuda-cli'), '--device', 'cuda']);
    expect(cuda.status).toBe(1);
    expect(cuda.stderr).toMatch(/^telechat-train: --device cuda: (no GPU is visible|this build has no CUDA backend)/);
    const auto = await runAsync([...common, '--output-dir', join(tmp.dir, 'auto-cli'), '--dry-run']);
    expect(auto.status).toBe(0);
    expect(auto.stdout).toContain('device: cpu');
  }, 120_000);
});

// LoRA: the frozen base and the adapter ops (loraForward/loraBackward) on cuda tensors too.
describe('LoRA on cuda tensors (stand-in runtime)', () => {
  it('ZeRO-3 on 2 ranks, bf16, LoRA dropout 0.1: equal to the CPU run bit for bit, everything on the device', async () => {
    const extra = { lora: { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['query', 'key_value', 'dense', 'gate_proj', 'down_proj'] } };
    const [dev, cpu] = await Promise.all([runWorker('standin', 3, 2, 'standin-lora', {}, extra), runWorker('cpu', 3, 2, 'cpu-lora', {}, extra)]);
    expect(dev.metrics.map((m) => [m.loss, m.grad_norm])).toEqual(cpu.metrics.map((m) => [m.loss, m.grad_norm]));
    expect(dev.metrics[STEPS - 1]!.loss).toBeLessThan(dev.metrics[0]!.loss!);
    for (const f of [join('adapter', 'adapter_model.safetensors'), join('final', 'model.safetensors')]) {
      expect(readFileSync(join(dev.out, f)).equals(readFileSync(join(cpu.out, f))), f).toBe(true);
    }
    for (const r of dev.reports) {
      for (const cat of ['params', 'grads', 'master', 'optim', 'activations']) {
        expect(r.host[cat], `host ${cat}`).toBe(0);
        expect(r.device![cat], `device ${cat}`).toBeGreaterThan(0);
      }
      for (const fn of ['cudaLinearForward', 'cudaLoraForward', 'cudaLoraBackward', 'cudaDropoutBackward', 'cudaAdamwStep']) {
        expect(r.calls![fn], fn).toBeGreaterThan(0);
      }
      // the frozen base: every one of its 4 matrices per block, in both layers, takes the dX-only
      // path (no dW GEMM) on each of the 2 micro-steps of every step, and so does the LM head
      // (one logits chunk per micro-step here), except block 0's qkv, whose input gradient nothing
      // needs; no weight-gradient GEMM runs at all, and the frozen embedding gets no gradient
      expect(r.calls!['cudaLinearBackward(frozen)']).toBe(STEPS * 2 * (4 * 2 + 1 - 1));
      expect(r.calls!.cudaLinearBackward ?? 0).toBe(0);
      expect(r.calls!.cudaEmbeddingBackward ?? 0).toBe(0);
    }
  }, 300_000);
});
