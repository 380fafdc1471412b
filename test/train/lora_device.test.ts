// LoRA on the --device cuda path without a GPU: the trainer, the engine (frozen base + adapters)
// and the LoRA ops run on 'cuda' tensors through the cuda backend over the stand-in runtime
// (src/native/host_cuda.ts; pattern and rationale: test/train/device_path.test.ts). The
// stand-in executes the CPU kernels, so results must equal the CPU run bit for bit; the real
// kernels run on a GPU in scripts/device/check_cuda.sh's `lora` stage.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, LAUNCH_CLI, type Metrics, makeFixture, runAsync, zeroConfig } from '../helpers/train_fixture.js';
import { makeTmpDir } from '../helpers/tmp.js';

const WORKER = resolve('test/train/workers/standin_train.mjs');
const tmp = makeTmpDir('lora-device');
afterAll(() => tmp.cleanup());
let fx: Fixture;
let port = 31600 + Math.floor(Math.random() * 300);
const STEPS = 5;

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

async function run(device: 'standin' | 'cpu', name: string): Promise<{ out: string; metrics: Metrics; reports: Report[] }> {
  const out = join(tmp.dir, name);
  const cfg = join(tmp.dir, `${name}.json`);
  const config = { ...zeroConfig(3, 3, 2, STEPS, { bf16: { enabled: true } }), lora: { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['query', 'key_value', 'dense', 'gate_proj', 'down_proj'] } };
  writeFileSync(cfg, JSON.stringify(config));
  const args = [LAUNCH_CLI, '--nproc-per-node', '2', '--master-port', String(port++), '--', process.execPath, WORKER, device, cfg, fx.modelConfig, fx.data, out];
  const res = await runAsync(args);
  if (res.status !== 0) throw new Error(`${name} failed (${res.status}):\n${res.stderr}\n${res.stdout.slice(-2000)}`);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Metrics[number]);
  const reports = [0, 1].map((r) => JSON.parse(readFileSync(join(out, `report-rank${r}.json`), 'utf8')) as Report);
  return { out, metrics, reports };
}

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL);
}, 120_000);

describe('LoRA on cuda tensors (stand-in runtime)', () => {
  it('ZeRO-3 on 2 ranks, bf16, LoRA dropout 0.1: equal to the CPU run bit for bit, everything on the device', async () => {
    const [dev, cpu] = await Promise.all([run('standin', 'standin'), run('cpu', 'cpu')]);
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
