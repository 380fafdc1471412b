#!/usr/bin/env node
// telechat-plan: what fits on which GPUs, and how fast, before launch (thin: parse, plan, print).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { helpWidth, yargs } from './yargs.js';
import { hideBin } from 'yargs/helpers';
import { DEFAULT_LOGITS_CHUNK } from '../model/model.js';
import { loadModelSpec } from '../model/spec.js';
import { DEFAULT_MFU, TRAINER_MAX_SEQ_LEN, TRAINER_PERSISTENCE_THRESHOLD } from '../plan/from_config.js';
import { DEFAULT_GPU, GPUS, MAX_GPU_MEM_GIB, chooseDevice } from '../plan/gpus.js';
import { defaultLoraTargets } from '../plan/lora.js';
import type { Precision, ZeroStage } from '../plan/memory.js';
import { MAX_COUNT, MAX_GBPS, MAX_MICRO_BATCH_TOKENS, MAX_TFLOPS, formatPlan, makePlan } from '../plan/plan.js';

const EXAMPLES: [string, string][] = [
  ['$0 --model /models/TeleChat2-115B --gpus 256 --gpu H100-80G --zero 3 --gradient-checkpointing --seq-len 8192', 'does TeleChat2-115B fit on 32 nodes of H100, and how long is a step'],
  ['$0 --model /models/TeleChat-52B/config.json --gpus 64 --zero 3 --offload-optimizer --json', 'the 52B on 8 nodes of A100-40G with the optimizer on the host, as JSON'],
  ['$0 --model /models/TeleChat2-7B --gpus 8 --lora-r 64 --lora-targets query,key_value,dense', 'LoRA on one node'],
  ['$0 --model config.json --gpus 64 --gpu V100 --gpu-mem 32 --tflops 125 --inter-node-gbps 100', 'a device not in the table (named as typed; unset link speeds assumed, and said)'],
];

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .scriptName('telechat-plan')
    .usage(
      '$0 --model CONFIG.json|DIR --gpus N [options]\n\n' +
        'Per-GPU memory by category, whether the run fits, the largest micro-batch\n' +
        'that fits, the ZeRO stage that fits with the fewest bytes sent per GPU per\n' +
        'step, and a step-time estimate, from the model config alone. A plan that\n' +
        'does not fit is a result (exit 0); only invalid input exits 1. Counts\n' +
        `(--gpus, --gpus-per-node, --grad-accum-steps, --lora-r) go up to ${MAX_COUNT}, a\n` +
        `micro-batch up to ${MAX_MICRO_BATCH_TOKENS} tokens. See docs/planning.md.\n\n` +
        GPUS.map((g) => `  ${g.name.padEnd(12)} ${(g.memBytes / 2 ** 30).toFixed(1).padStart(6)} GiB, bf16 ${g.tflops.bf16} / fp32 ${g.tflops.fp32 ?? 'n/a (--tflops)'} TFLOP/s`).join('\n'),
    )
    .option('model', { type: 'string', demandOption: true, describe: 'a TeleChat config.json, or a checkpoint dir holding one' })
    .option('gpus', { type: 'number', demandOption: true, describe: 'GPUs in the run (data-parallel ranks)' })
    .option('gpus-per-node', { type: 'number', default: 8, describe: 'GPUs per node (rings inside a node use --intra-node-gbps)' })
    .option('gpu', { type: 'string', describe: `GPU type (default ${DEFAULT_GPU}): ${GPUS.map((g) => g.name).join(', ')}, or any name with --gpu-mem and --tflops (a custom device)` })
    .option('gpu-mem', { type: 'number', describe: `device memory per GPU in GiB, at most ${MAX_GPU_MEM_GIB} (overrides the table)` })
    .option('seq-len', { type: 'number', default: TRAINER_MAX_SEQ_LEN, describe: 'tokens per row (training.max_seq_len)' })
    .option('micro-batch', { type: 'number', default: 1, describe: 'rows per GPU per micro-step (train_micro_batch_size_per_gpu)' })
    .option('grad-accum-steps', { type: 'number', default: 1, describe: 'micro-steps per optimizer step (gradient_accumulation_steps)' })
    .option('zero', { type: 'number', choices: [0, 1, 2, 3], default: 0, describe: 'ZeRO stage' })
    .option('offload-optimizer', { type: 'boolean', default: false, describe: 'fp32 master weights and Adam moments in host memory (stages 1-3)' })
    .option('offload-param', { type: 'boolean', default: false, describe: 'stage-3 parameter chunks in host memory' })
    .option('gradient-checkpointing', { type: 'boolean', default: false, describe: 'recompute each block in backward' })
    .option('precision', { type: 'string', choices: ['bf16', 'fp16', 'fp32'], default: 'bf16', describe: 'training dtype (default bf16, where the trainer\'s config default is fp32: the CUDA backend trains in bf16/fp16 only)' })
    .option('grad-accum-dtype', { type: 'string', choices: ['fp32', 'bf16', 'fp16'], default: 'fp32', describe: 'gradient accumulation dtype (data_types.grad_accum_dtype; the trainer accumulates in fp32)' })
    .option('lora-r', { type: 'number', describe: 'LoRA rank: frozen base, adapters trained (the config section lora)' })
    .option('lora-targets', { type: 'string', describe: 'comma-separated HF module names, or dotted suffixes of their paths (self_attention.query), or all-linear alone (default: every projection of a block)' })
    .option('tflops', { type: 'number', describe: `peak dense TFLOP/s per GPU in the training precision, at most ${MAX_TFLOPS} (overrides the table)` })
    .option('mfu', { type: 'number', default: DEFAULT_MFU, describe: 'assumed fraction of the peak the executed FLOPs reach' })
    .option('intra-node-gbps', { type: 'number', describe: `per-GPU ring bandwidth inside a node, Gb/s, at most ${MAX_GBPS} (default: the GPU's NVLink; a custom device's is assumed ${DEFAULT_GPU}'s)` })
    .option('inter-node-gbps', { type: 'number', describe: `per-GPU ring bandwidth across nodes, Gb/s, at most ${MAX_GBPS} (default: the GPU's InfiniBand NIC; a custom device's is assumed ${DEFAULT_GPU}'s)` })
    .option('json', { type: 'boolean', default: false, describe: 'print the plan as one JSON object' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces on errors' })
    .example(EXAMPLES)
    .wrap(helpWidth())
    .strict()
    .help()
    .parse();
  try {
    if (argv['lora-targets'] !== undefined && argv['lora-r'] === undefined) throw new Error('--lora-targets needs --lora-r');
    const configPath = modelConfigPath(argv.model);
    const spec = loadModelSpec(configPath);
    const device = chooseDevice({
      gpu: argv.gpu, memGiB: argv['gpu-mem'], tflops: argv.tflops,
      intraNodeGbps: argv['intra-node-gbps'] !== undefined, interNodeGbps: argv['inter-node-gbps'] !== undefined,
    });
    const gpu = device.gpu;
    const precision = argv.precision as Precision;
    // the default node size is what does not fit: say that it is a default, and how to change it
    const perNodeGiven = hideBin(process.argv).some((a) => /^--(gpus-per-node|gpusPerNode)(=|$)/.test(a));
    if (!perNodeGiven && argv.gpus > argv['gpus-per-node'] && argv.gpus % argv['gpus-per-node'] !== 0) {
      throw new Error(`--gpus ${argv.gpus} is not a whole number of nodes of ${argv['gpus-per-node']} GPUs, the default --gpus-per-node; give --gpus-per-node (the GPUs of one node)`);
    }
    const plan = makePlan({
      spec,
      modelName: argv.model,
      gpus: argv.gpus,
      gpusPerNode: argv['gpus-per-node'],
      deviceName: device.name,
      deviceAssumed: device.assumed,
      memBytes: gpu.memBytes,
      device: 'cuda',
      seqLen: argv['seq-len'],
      microBatch: argv['micro-batch'],
      gradAccumSteps: argv['grad-accum-steps'],
      stage: argv.zero as ZeroStage,
      offloadOptimizer: argv['offload-optimizer'],
      offloadParam: argv['offload-param'],
      recompute: argv['gradient-checkpointing'],
      precision,
      gradAccumDtype: argv['grad-accum-dtype'] as Precision,
      lora: argv['lora-r'] === undefined ? null : { r: argv['lora-r'], targets: argv['lora-targets'] !== undefined ? [...new Set(argv['lora-targets'].split(',').map((t) => t.trim()).filter((t) => t))] : defaultLoraTargets(spec) },
      persistenceThreshold: TRAINER_PERSISTENCE_THRESHOLD,
      overlapComm: null,
      prefetch: true,
      logitsChunk: DEFAULT_LOGITS_CHUNK,
      tflops: argv.tflops ?? gpu.tflops[precision],
      mfu: argv.mfu,
      intraNodeGbps: argv['intra-node-gbps'] ?? gpu.intraNodeGbps,
      interNodeGbps: argv['inter-node-gbps'] ?? gpu.interNodeGbps,
      blasWorkspaceBytes: gpu.blasWorkspaceBytes,
    });
    process.stdout.write(argv.json ? JSON.stringify(plan, null, 2) + '\n' : formatPlan(plan).join('\n') + '\n');
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`telechat-plan: ${argv.verbose ? (err.stack ?? err.message) : err.message}\n`);
    process.exit(1);
  }
}

void main();

/**
 * The config.json that --model names: the file itself, or in a directory its config.json, or in a
 * telechat-train checkpoint (checkpoint-NNNNNN/) the hf/config.json it keeps.
 */
function modelConfigPath(model: string): string {
  if (!existsSync(model)) throw new Error(`--model: ${model} does not exist`);
  if (!statSync(model).isDirectory()) return model;
  for (const path of [join(model, 'config.json'), join(model, 'hf', 'config.json')]) if (existsSync(path)) return path;
  throw new Error(`--model: ${model} holds no config.json (nor hf/config.json, as a telechat-train checkpoint does)`);
}
