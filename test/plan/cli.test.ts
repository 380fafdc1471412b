// telechat-plan through the built CLI: JSON fields, exit codes, bad input as one sentence,
// telechat-train --dry-run printing the same plan; docs/planning.md is current.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { TRAINER_MAX_SEQ_LEN, TRAINER_PERSISTENCE_THRESHOLD } from '../../src/plan/from_config.js';
import { planningDoc, PLANNING_DOC } from '../../src/plan/tables.js';
import { inConfigWords } from '../../src/plan/from_config.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('plan-cli');
afterAll(() => tmp.cleanup());
const FIX = 'test/plan/fixtures';

function plan(args: string[]) {
  const r = spawnSync(process.execPath, ['dist/cli/plan.js', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('telechat-plan', () => {
  it('--json: the DESIGN fields, the 115B on 256 H100 at ZeRO 3 with recompute fits', () => {
    const r = plan(['--model', `${FIX}/TeleChat2-115B`, '--gpus', '256', '--gpu', 'H100-80G', '--zero', '3', '--gradient-checkpointing', '--seq-len', '8192', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.params).toBe(113_282_916_352);
    for (const k of ['params', 'grads', 'master', 'optim', 'activations', 'buffers', 'total']) expect(typeof p.per_gpu_bytes[k]).toBe('number');
    const b = p.per_gpu_bytes;
    expect(b.total).toBe(b.params + b.grads + b.master + b.optim + b.activations + b.buffers + b.workspace + b.margin);
    expect(p.host_bytes_per_node).toBe(0);
    expect(p.fits).toBe(true);
    expect(p.max_micro_batch).toBeGreaterThanOrEqual(1);
    expect(p.step_time_s).toBeGreaterThan(0);
    expect(p.deepspeed_estimate.zero3.gpu_bytes).toBe(4 * 131072 * 8192 + Math.floor((18 * 113_282_916_352) / 256));
    // the default gradient accumulation is the trainer's fp32: 4 bytes per parameter, / 256
    // ranks, plus the CUDA pool's rounding of each unit's ~18 MB chunk up to 2 MiB (< 12%)
    expect(p.grad_accum_dtype).toBe('fp32');
    const fp32Grads = (113_282_916_352 * 4) / 256;
    expect(b.grads).toBeGreaterThanOrEqual(fp32Grads);
    expect(b.grads / fp32Grads).toBeLessThan(1.12);
  });

  it('a plan that does not fit is a result: exit 0, fits false, max_micro_batch 0, one sentence why', () => {
    const r = plan(['--model', `${FIX}/TeleChat2-115B`, '--gpus', '8', '--zero', '0', '--gradient-checkpointing', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.fits).toBe(false);
    expect(p.max_micro_batch).toBe(0);
    expect(p.lowest_comm_stage).toBe(null);
    // stage 0 shards nothing (more GPUs do not help) and cannot offload: only a higher stage is left
    expect(p.reason).toMatch(/^even micro-batch 1 needs [\d.]+ GiB per GPU .*more than the [\d.]+ GiB of A100-40G: use a higher ZeRO stage$/);
    // at stage 3 with recompute there is no higher stage to suggest, nor recompute
    const z3 = JSON.parse(plan(['--model', `${FIX}/TeleChat2-115B`, '--gpus', '2', '--zero', '3', '--gradient-checkpointing', '--json']).stdout);
    expect(z3.reason).toMatch(/at ZeRO stage 3 on 2 GPU\(s\)\), more than the [\d.]+ GiB of A100-40G: use more GPUs or --offload-optimizer \(and --offload-param\)$/);
  });

  it('does-not-fit advice names only what lowers the need for these inputs', () => {
    const reason = (args: string[], gpus = '8'): string => JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', gpus, ...args, '--json']).stdout).reason;
    // stage 0: neither more GPUs (everything replicated) nor offload (refused at stage 0)
    expect(reason(['--zero', '0'])).toMatch(/: use a higher ZeRO stage or --gradient-checkpointing$/);
    expect(reason(['--zero', '1'])).toMatch(/: use a higher ZeRO stage, more GPUs, --offload-optimizer or --gradient-checkpointing$/);
    // parameter offload without optimizer offload saves no device memory: optimizer offload is what helps
    expect(reason(['--zero', '3', '--offload-param'], '1')).toMatch(/: use more GPUs, --offload-optimizer or --gradient-checkpointing$/);
    expect(reason(['--zero', '3', '--offload-optimizer'], '1')).toMatch(/: use more GPUs, --offload-param or --gradient-checkpointing$/);
  });

  it('a micro-batch whose activations alone can never fit says so (exit 0)', () => {
    const r = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--zero', '3', '--seq-len', '131072']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verdict: does not fit: one sequence of 131072 tokens needs [\d.]+ GiB of activations alone, more than the [\d.]+ GiB of A100-40G at any GPU count or ZeRO stage/);
  });

  it('LoRA: frozen base has no grads/master/optim; trainable = adapters', () => {
    const r = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '8', '--lora-targets', 'query,dense', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.trainable_params).toBe(30 * 8 * ((4096 + 4096) + (4096 + 4096)));
    expect(p.per_gpu_bytes.optim).toBeLessThan(p.trainable_params * 8 * 1.01 + 64 * 2 ** 20);
    const bad = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '8', '--lora-targets', 'c_attn']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^telechat-plan: --lora-targets: unknown module "c_attn" for the telechat layout; its modules are query, key_value/);
    // a dotted suffix of the module paths, as PEFT matches it
    const dotted = JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '8', '--lora-targets', 'self_attention.query,dense', '--json']).stdout);
    expect(dotted.trainable_params).toBe(p.trainable_params);
    // all-linear, as a config's lora section takes it: the same as naming every projection
    const every = JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '8', '--lora-targets', 'all-linear', '--json']).stdout);
    const named = JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '8', '--lora-targets', 'query,key_value,dense,gate_proj,up_proj,down_proj', '--json']).stdout);
    expect(every.trainable_params).toBe(named.trainable_params);
    expect(every.per_gpu_bytes).toEqual(named.per_gpu_bytes);
  });

  it('bad input: one clear sentence, exit 1, nothing on stdout', () => {
    const llama = join(tmp.dir, 'llama.json');
    writeFileSync(llama, JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 4096, num_hidden_layers: 32 }));
    const cases: Array<[string[], RegExp]> = [
      [['--model', llama, '--gpus', '8'], /^telechat-plan: .*llama\.json: unknown architecture "LlamaForCausalLM".*supported layouts/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '0'], /^telechat-plan: --gpus must be a whole number of GPUs from 1 to 1048576, got 0\n$/],
      // 8 per node is a default the user may not know of: the error says so
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '12'], /^telechat-plan: --gpus 12 is not a whole number of nodes of 8 GPUs, the default --gpus-per-node; give --gpus-per-node \(the GPUs of one node\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '12', '--gpus-per-node', '8'], /^telechat-plan: --gpus 12 is not a whole number of nodes of 8 \(--gpus-per-node\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--micro-batch', '0'], /^telechat-plan: --micro-batch must be a whole number from 1 to 2147483647, got 0\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--micro-batch', '300000', '--seq-len', '8192'], /can never fit: token indices are 32-bit/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'V100'], /^telechat-plan: --gpu V100: unknown GPU type; known: A100-40G.*\(or give --gpu-mem and --tflops to plan it as a custom device\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'V100', '--gpu-mem', '32'], /^telechat-plan: --gpu V100: unknown GPU type; .*custom device; --tflops is missing\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'A100'], /^telechat-plan: --gpu A100: ambiguous: A100-40G or A100-80G\n$/],
      // non-finite and absurd numbers
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '1e300'], /^telechat-plan: --gpus must be a whole number of GPUs from 1 to 1048576, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '2097152'], /^telechat-plan: --gpus must be a whole number of GPUs from 1 to 1048576, got 2097152\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpus-per-node', 'Infinity'], /^telechat-plan: --gpus-per-node expects a decimal number, got "Infinity" \(see --help\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--grad-accum-steps', '1e300'], /^telechat-plan: --grad-accum-steps must be a whole number from 1 to 1048576, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--seq-len', '1e300'], /^telechat-plan: --seq-len must be a whole number from 1 to 2147483647, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '1e300'], /^telechat-plan: --lora-r must be a whole number from 1 to 1048576, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu-mem', 'Infinity'], /^telechat-plan: --gpu-mem expects a decimal number, got "Infinity" \(see --help\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu-mem', '1e300'], /^telechat-plan: --gpu-mem must be a positive number of GiB at most 1048576, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--tflops', 'Infinity'], /^telechat-plan: --tflops expects a decimal number, got "Infinity" \(see --help\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '1e400'], /^telechat-plan: --gpus expects a finite number, got "1e400" \(see --help\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '0x10'], /^telechat-plan: --gpus expects a decimal number, got "0x10" \(see --help\)\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--inter-node-gbps', '1e300'], /^telechat-plan: --inter-node-gbps must be a positive number of Gb\/s at most 1000000, got 1e\+300\n$/],
      [['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--offload-param', '--zero', '2'], /--offload-param applies only to --zero 3/],
      [['--model', '/nonexistent/config.json', '--gpus', '8'], /^telechat-plan: --model: \/nonexistent\/config.json does not exist\n$/],
    ];
    for (const [args, want] of cases) {
      const r = plan(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(want);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('--model takes a config.json, a directory holding one, or a telechat-train checkpoint (its hf/config.json)', () => {
    const ckpt = join(tmp.dir, 'checkpoint-000040');
    mkdirSync(join(ckpt, 'hf'), { recursive: true });
    copyFileSync(`${FIX}/TeleChat2-7B/config.json`, join(ckpt, 'hf', 'config.json'));
    const want = plan(['--model', `${FIX}/TeleChat2-7B/config.json`, '--gpus', '8', '--json']);
    expect(want.status, want.stderr).toBe(0);
    for (const model of [`${FIX}/TeleChat2-7B`, ckpt]) {
      const r = plan(['--model', model, '--gpus', '8', '--json']);
      expect(r.status, r.stderr).toBe(0);
      expect({ ...JSON.parse(r.stdout), model: null }).toEqual({ ...JSON.parse(want.stdout), model: null });
    }
    const empty = join(tmp.dir, 'empty-dir');
    mkdirSync(empty, { recursive: true });
    const r = plan(['--model', empty, '--gpus', '8']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`telechat-plan: --model: ${empty} holds no config.json (nor hf/config.json, as a telechat-train checkpoint does)\n`);
  });

  it("the 52B's GPT-2 style config plans with DeepSpeed's estimate", () => {
    const r = plan(['--model', `${FIX}/TeleChat-52B/config.json`, '--gpus', '64', '--zero', '3', '--offload-optimizer', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.layout).toBe('telechat-52b');
    expect(p.host_bytes_per_node).toBeGreaterThan(0);
    expect(p.deepspeed_estimate.cpu_offload).toBe(true);
    expect(p.deepspeed_estimate.zero3.gpu_bytes).toBe(4 * 80896 * 8192 + Math.floor((2 * p.params) / 64));
  });

  it('lowest_comm_stage: the fitting stage that sends the fewest bytes per GPU, not the lowest number', () => {
    const run = (...extra: string[]) => {
      const r = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '16', '--gpu', 'H200-141G', '--gradient-checkpointing', '--zero', '0', ...extra, '--json']);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    // fp32 accumulation: stage 0 all-reduces 8 bytes per parameter, stages 1-2 send 6; all four fit
    const p = run();
    const [s0, s1, s2, s3] = p.comm_bytes_per_gpu_by_stage as number[];
    expect(s0! / s1!).toBeCloseTo(8 / 6, 3);
    expect(s2).toBe(s1);
    expect(s3).toBeGreaterThan(s1!);
    expect(p.comm_bytes_per_gpu).toBe(s0);
    expect(p.lowest_comm_stage).toBe(1);
    // bf16 accumulation: stages 0-2 send the same bytes and take the same time: the lower stage
    expect(run('--grad-accum-dtype', 'bf16').lowest_comm_stage).toBe(0);
    // stage 2 reduces every micro-step, stage 1 once per step
    const a4 = run('--grad-accum-steps', '4');
    expect(a4.comm_bytes_per_gpu_by_stage[2]).toBeGreaterThan(a4.comm_bytes_per_gpu_by_stage[1]);
    expect(a4.lowest_comm_stage).toBe(1);
    const text = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '16', '--gpu', 'H200-141G', '--gradient-checkpointing']).stdout;
    expect(text).toMatch(/least-communication ZeRO stage that fits: 1 \(sent per GPU per step at stage 0: [\d.]+ GiB, 1: [\d.]+ GiB, 2: [\d.]+ GiB, 3: [\d.]+ GiB\)/);
  });

  it("deepspeed_estimate under LoRA counts every parameter of the PEFT model, as DeepSpeed's model_to_params does", () => {
    const r = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--lora-r', '64', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.params).toBe(7_617_351_680 + p.trainable_params);
    expect(p.deepspeed_estimate.total_params).toBe(p.params);
    expect(p.deepspeed_estimate.zero2.gpu_bytes).toBe(2 * p.params + Math.floor((18 * p.params) / 8));
    expect(p.deepspeed_estimate.largest_layer_params).toBe(131072 * 4096);
  });

  it('max_micro_batch never passes the 2^31 - 1 token limit that --micro-batch is held to', () => {
    const args = ['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu-mem', '1000000', '--seq-len', '65536', '--gradient-checkpointing'];
    const p = JSON.parse(plan([...args, '--json']).stdout);
    expect(p.max_micro_batch).toBe(Math.floor((2 ** 31 - 1) / 65536));
    expect(plan([...args, '--micro-batch', String(p.max_micro_batch), '--json']).status).toBe(0);
    expect(plan([...args]).stdout).toMatch(/largest micro-batch that fits: 32767 \(cap: at most 2147483647 tokens per micro-batch\)/);
  });

  it('devices: an unknown --gpu with --gpu-mem and --tflops is a custom device, named as typed, its assumptions said', () => {
    const r = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'V100', '--gpu-mem', '32', '--tflops', '125', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect([p.gpu, p.gpu_mem_bytes, p.tflops, p.intra_node_gbps, p.inter_node_gbps]).toEqual(['V100', 32 * 2 ** 30, 125, 2400, 200]);
    expect(p.gpu_assumed).toMatch(/^V100 is not in the GPU table: a custom device from --gpu-mem and --tflops, with A100-40G's link speeds \(2400 Gb\/s in a node, 200 Gb\/s across nodes; .*\) and 4 MiB cuBLAS workspace assumed$/);
    // given link speeds are not assumed
    const links = JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'V100', '--gpu-mem', '32', '--tflops', '125', '--intra-node-gbps', '1200', '--inter-node-gbps', '100', '--json']).stdout);
    expect(links.gpu_assumed).not.toMatch(/link speeds/);
    // no --gpu: not labelled as the default A100-40G
    const text = plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu-mem', '64', '--tflops', '320']).stdout;
    expect(text).toMatch(/^ {2}8 x custom GPU \(1 node\(s\) of 8\)/m);
    expect(text).toMatch(/^ {2}device: no --gpu: a custom device from --gpu-mem and --tflops, with A100-40G's link speeds/m);
    expect(text).not.toMatch(/A100-40G with 64 GiB/);
    // no --gpu and only --gpu-mem: the default's other figures, said
    const mem = JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu-mem', '64', '--json']).stdout);
    expect([mem.gpu, mem.gpu_assumed]).toEqual(['A100-40G with 64 GiB', "no --gpu: the default A100-40G's peak TFLOP/s, link speeds and cuBLAS workspace are assumed"]);
    // a table entry named, or the plain default: nothing assumed
    expect(JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--gpu', 'h100', '--gpu-mem', '94', '--json']).stdout).gpu_assumed).toBe(null);
    expect(JSON.parse(plan(['--model', `${FIX}/TeleChat2-7B`, '--gpus', '8', '--json']).stdout)).toMatchObject({ gpu: 'A100-40G', gpu_assumed: null });
  });

  it("the CLI defaults are the trainer's", () => {
    const cfg = loadConfig(null, { sets: ['train_micro_batch_size_per_gpu=1'], flags: {}, context: { worldSize: 8, hiddenSize: 4096 } }).config;
    expect(cfg.zero_optimization.stage3_param_persistence_threshold).toBe(TRAINER_PERSISTENCE_THRESHOLD);
    expect(cfg.training.max_seq_len).toBe(TRAINER_MAX_SEQ_LEN);
    expect(cfg.data_types.grad_accum_dtype).toBe('fp32');
    expect(cfg.zero_optimization.stage).toBe(0);
  });
});

describe('telechat-train --dry-run', () => {
  it('prints the plan of telechat-plan (the same makePlan and formatPlan) for its own world size and device', () => {
    const r = spawnSync(process.execPath, ['dist/cli/train.js', '--config', 'configs/zero3.json', '--output-dir', join(tmp.dir, 'dry'), '--dry-run'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const planned = r.stdout.split('\n').filter((l) => l.startsWith('plan: ') || l.startsWith('  '));
    expect(planned.join('\n')).toMatch(/plan: .*tiny-model \(telechat\)[\s\S]*memory per rank:[\s\S]*verdict: fits[\s\S]*largest micro-batch that fits: \d+/);
    expect(r.stdout).toMatch(/ZeRO stage 3/);
    // a CPU run's plan says that its link speeds are assumed
    expect(r.stdout).toMatch(/^ {2}device: A100-40G's link speeds .* stand in for Gloo between CPU ranks/m);
  });

  it("names the config's keys, not telechat-plan's flags, when the plan refuses a value", () => {
    const r = spawnSync(process.execPath, ['dist/cli/train.js', '--config', 'configs/zero3.json', '--output-dir', join(tmp.dir, 'dry-r'), '--dry-run',
      '--set', 'lora.r=2000000', '--set', 'lora.target_modules=all-linear'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe('telechat-train: lora.r must be a whole number from 1 to 1048576, got 2000000');
    expect(inConfigWords('--micro-batch 5 x --seq-len 7 = 35 tokens; --gpus 3 is not a whole number of nodes of 2 (--gpus-per-node)'))
      .toBe("train_micro_batch_size_per_gpu 5 x the dataset's max_seq_len 7 = 35 tokens; the world size 3 is not a whole number of nodes of 2 (the local world size)");
  });
});

describe('docs/planning.md', () => {
  it('is what `npm run plan:tables` writes', () => {
    expect(readFileSync(PLANNING_DOC, 'utf8'), 'docs/planning.md is stale: run npm run build:ts && npm run plan:tables').toBe(planningDoc());
  });
});
