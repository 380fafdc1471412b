// The plan of a resolved training config on the machine it would run on: what
// telechat-train --dry-run prints. Shares makePlan/formatPlan with telechat-plan.
import { execFileSync } from 'node:child_process';
import { totalmem } from 'node:os';
import type { ResolvedConfig } from '../config/index.js';
import { DEFAULT_LOGITS_CHUNK } from '../model/model.js';
import type { ModelSpec } from '../model/spec.js';
import type { Device } from '../native/tensor.js';
import { GPUS, type GpuType } from './gpus.js';
import type { Precision } from './memory.js';
import { formatPlan, makePlan, PlanInputError, type Plan, type PlanInput } from './plan.js';

/** The trainer's defaults (src/config/schema.ts) for telechat-plan: stage3_param_persistence_threshold, training.max_seq_len. */
export const TRAINER_PERSISTENCE_THRESHOLD = 1e5;
export const TRAINER_MAX_SEQ_LEN = 2048;

/** Assumed fraction of peak the executed FLOPs reach (typical of tuned dense bf16 training: 35-55%). */
export const DEFAULT_MFU = 0.4;

/**
 * The GPU `nvidia-smi` reports for this rank (name and total memory), matched to the table by
 * name; an unknown GPU keeps its memory and has no peak. null when nvidia-smi is absent.
 */
export function detectGpu(localRank: number): GpuType | null {
  let out: string;
  try {
    out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits', '-i', String(localRank)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return null;
  }
  const [name = '', mib = ''] = out.trim().split(',').map((x) => x.trim());
  return matchGpu(name, Number(mib));
}

/** The table entry for a GPU named `name` with `mib` MiB (nvidia-smi's words), its memory as reported. */
export function matchGpu(name: string, mib: number): GpuType | null {
  const memBytes = mib * 2 ** 20;
  if (!(memBytes > 0)) return null;
  const family = ['H200', 'H100', 'A100'].find((f) => name.includes(f));
  const known = family ? GPUS.filter((g) => g.name.startsWith(family)).sort((a, b) => Math.abs(a.memBytes - memBytes) - Math.abs(b.memBytes - memBytes))[0] : undefined;
  if (known) return { ...known, name: `${known.name} (${name})`, memBytes };
  return { name, memBytes, tflops: { bf16: null, fp16: null, fp32: null }, intraNodeGbps: GPUS[0]!.intraNodeGbps, interNodeGbps: GPUS[0]!.interNodeGbps, blasWorkspaceBytes: GPUS[0]!.blasWorkspaceBytes };
}

/** Whether `gpu` is a table entry (matchGpu names a match `ENTRY (nvidia-smi name)`). */
function inTable(gpu: GpuType): boolean {
  return GPUS.some((g) => gpu.name === g.name || gpu.name.startsWith(`${g.name} (`));
}

/**
 * What the plan of a run on `device` takes from the table's first entry rather than knows (its
 * link speeds and cuBLAS workspace), in one sentence; null when the GPU is in the table.
 */
export function assumedFigures(device: Device, gpu: GpuType | null): string | null {
  const def = GPUS[0]!;
  const links = `${def.name}'s link speeds (${def.intraNodeGbps} Gb/s in a node, ${def.interNodeGbps} Gb/s across nodes)`;
  if (device === 'cpu') return `${links} stand in for Gloo between CPU ranks, which the plan does not model`;
  if (!gpu) return `no GPU known (nvidia-smi not found): ${links} and ${def.blasWorkspaceBytes / 2 ** 20} MiB cuBLAS workspace assumed`;
  if (!inTable(gpu)) return `${gpu.name} is not in the GPU table (docs/planning.md): ${links} and ${def.blasWorkspaceBytes / 2 ** 20} MiB cuBLAS workspace assumed`;
  return null;
}

export interface RunPlace {
  device: Device;
  worldSize: number;
  localWorldSize: number;
  localRank: number;
  modelName: string;
}

/** The plan of this config (its stage, precision, batch, offload, recompute) on `place`. */
export function planOfConfig(cfg: ResolvedConfig, spec: ModelSpec, seqLen: number, place: RunPlace, gpu: GpuType | null = place.device === 'cuda' ? detectGpu(place.localRank) : null): Plan {
  const zero = cfg.zero_optimization;
  const precision = cfg.run.precision as Precision;
  const onCpu = place.device === 'cpu';
  const input: PlanInput = {
    spec,
    modelName: place.modelName,
    gpus: place.worldSize,
    gpusPerNode: Math.max(1, place.localWorldSize),
    // the CPU ranks of one machine share its memory
    deviceAssumed: assumedFigures(place.device, gpu),
    deviceName: onCpu ? `cpu (host memory shared by ${Math.max(1, place.localWorldSize)} local rank(s))` : (gpu?.name ?? 'GPU (unknown: nvidia-smi not found)'),
    memBytes: onCpu ? Math.floor(totalmem() / Math.max(1, place.localWorldSize)) : (gpu?.memBytes ?? null),
    device: place.device,
    seqLen,
    microBatch: cfg.train_micro_batch_size_per_gpu,
    gradAccumSteps: cfg.gradient_accumulation_steps,
    stage: zero.stage,
    offloadOptimizer: zero.offload_optimizer.device === 'cpu',
    offloadParam: zero.offload_param.device === 'cpu' && zero.stage === 3,
    recompute: cfg.training.gradient_checkpointing,
    precision,
    gradAccumDtype: cfg.data_types.grad_accum_dtype as Precision,
    // a LoRA run plans its adapters ("all-linear": every block projection, as the trainer)
    lora: cfg.lora ? { r: cfg.lora.r, targets: cfg.lora.target_modules } : null, // all-linear is the trainer's selection too (model/lora.ts)
    loraDropout: cfg.lora?.dropout ?? 0,
    persistenceThreshold: zero.stage3_param_persistence_threshold,
    overlapComm: zero.overlap_comm,
    prefetch: zero.stage3_prefetch_bucket_size > 0,
    logitsChunk: DEFAULT_LOGITS_CHUNK,
    tflops: gpu?.tflops[precision] ?? null,
    mfu: DEFAULT_MFU,
    intraNodeGbps: gpu?.intraNodeGbps ?? GPUS[0]!.intraNodeGbps,
    interNodeGbps: gpu?.interNodeGbps ?? GPUS[0]!.interNodeGbps,
    blasWorkspaceBytes: onCpu ? 0 : (gpu?.blasWorkspaceBytes ?? 0),
  };
  try {
    return makePlan(input);
  } catch (e) {
    if (e instanceof PlanInputError) throw new PlanInputError(inConfigWords(e.message));
    throw e;
  }
}

// makePlan's checks name telechat-plan's flags; under --dry-run the same values come from these.
const CONFIG_WORDS: [string, string][] = [
  ['--gpus-per-node', 'the local world size'],
  ['--gpus', 'the world size'],
  ['--seq-len', "the dataset's max_seq_len"],
  ['--micro-batch', 'train_micro_batch_size_per_gpu'],
  ['--grad-accum-steps', 'gradient_accumulation_steps'],
  ['--lora-r', 'lora.r'],
  ['--lora-targets', 'lora.target_modules'],
  ['--gpu-mem', 'the device memory'],
];

/** A makePlan error with telechat-plan's flag names replaced by the config keys (or facts) they stand for. */
export function inConfigWords(message: string): string {
  let out = message;
  for (const [flag, words] of CONFIG_WORDS) out = out.replace(new RegExp(`${flag}(?![\\w-])`, 'g'), words);
  return out;
}

export { formatPlan };
