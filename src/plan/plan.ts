// The capacity plan of a run: per-GPU memory by category, whether it fits, the largest
// micro-batch that fits, the lowest-communication ZeRO stage that fits, a step-time estimate,
// and DeepSpeed's own estimator for comparison. telechat-plan and telechat-train --dry-run
// both print this (formatPlan), so the numbers users see before launch are one computation.
import type { ModelSpec } from '../model/spec.js';
import { buildParamTable } from '../model/params.js';
import type { Device } from '../native/tensor.js';
import { deepspeedEstimate, type DeepSpeedEstimate } from './deepspeed_estimate.js';
import { loraAdapters, type LoraSetup } from './lora.js';
import { planMemory, type DeviceBytes, type MemoryDetail, type Precision, type ZeroStage } from './memory.js';
import { planStepTime, type StepTime } from './step_time.js';

export interface PlanInput {
  spec: ModelSpec;
  /** What the model is called in the printout (a path or a name). */
  modelName: string;
  gpus: number;
  gpusPerNode: number;
  /** The device's name in the printout ("H100-80G", "cpu"). */
  deviceName: string;
  /** Device memory one rank may use, bytes; null when unknown (no verdict then). */
  memBytes: number | null;
  device: Device;
  seqLen: number;
  microBatch: number;
  gradAccumSteps: number;
  stage: ZeroStage;
  offloadOptimizer: boolean;
  offloadParam: boolean;
  recompute: boolean;
  precision: Precision;
  gradAccumDtype: Precision;
  lora: LoraSetup | null;
  /** LoRA dropout (adds the dropped-input scratch); 0 when absent. */
  loraDropout?: number;
  persistenceThreshold: number;
  /** null: the trainer's default (on for stage 3 only, as DeepSpeed). */
  overlapComm: boolean | null;
  prefetch: boolean;
  logitsChunk: number;
  tflops: number | null;
  mfu: number;
  intraNodeGbps: number;
  interNodeGbps: number;
  blasWorkspaceBytes: number;
}

/** The plan, as telechat-plan --json prints it (snake_case keys). */
export interface Plan {
  model: string;
  layout: ModelSpec['layout'];
  params: number;
  trainable_params: number;
  gpus: number;
  gpus_per_node: number;
  nodes: number;
  gpu: string;
  /** Where the ranks compute: 'cuda' (GPU plans) or 'cpu' (a CPU dry run). */
  device: Device;
  gpu_mem_bytes: number | null;
  zero_stage: ZeroStage;
  precision: Precision;
  grad_accum_dtype: Precision;
  seq_len: number;
  micro_batch: number;
  grad_accum_steps: number;
  gradient_checkpointing: boolean;
  offload_optimizer: boolean;
  offload_param: boolean;
  lora: LoraSetup | null;
  per_gpu_bytes: DeviceBytes;
  detail: MemoryDetail;
  host_bytes_per_node: number;
  fits: boolean | null;
  /** One sentence on why it does not fit (null when it fits). */
  reason: string | null;
  max_micro_batch: number | null;
  /** The lowest ZeRO stage (least communication) that fits this micro-batch; null if none. */
  lowest_comm_stage: ZeroStage | null;
  flops_per_step: number;
  tokens_per_step: number;
  tflops: number | null;
  mfu: number;
  comm_bytes_per_gpu: number;
  intra_node_gbps: number;
  inter_node_gbps: number;
  compute_s: number | null;
  comm_s: number;
  step_time_s: number | null;
  step_time_overlap_s: number | null;
  step_time_no_overlap_s: number | null;
  overlap_comm: boolean;
  deepspeed_estimate: DeepSpeedEstimate;
}

export class PlanInputError extends Error {
  override name = 'PlanInputError';
}

/** Largest micro-batch searched; a micro-batch beyond it is reported as the cap. */
export const MAX_MICRO_BATCH_SEARCHED = 1 << 16;

export function validatePlanInput(p: PlanInput): void {
  const positiveInt = (v: number, flag: string): void => {
    if (!Number.isInteger(v) || v < 1) throw new PlanInputError(`${flag} must be a positive integer, got ${v}`);
  };
  if (!Number.isInteger(p.gpus) || p.gpus < 1) throw new PlanInputError(`--gpus must be a whole number of GPUs >= 1, got ${p.gpus}`);
  positiveInt(p.gpusPerNode, '--gpus-per-node');
  if (p.gpus > p.gpusPerNode && p.gpus % p.gpusPerNode !== 0) {
    throw new PlanInputError(`--gpus ${p.gpus} is not a whole number of nodes of ${p.gpusPerNode} (--gpus-per-node)`);
  }
  positiveInt(p.seqLen, '--seq-len');
  positiveInt(p.microBatch, '--micro-batch');
  positiveInt(p.gradAccumSteps, '--grad-accum-steps');
  if (p.microBatch * p.seqLen > 2 ** 31 - 1) {
    throw new PlanInputError(`--micro-batch ${p.microBatch} x --seq-len ${p.seqLen} = ${p.microBatch * p.seqLen} tokens can never fit: token indices are 32-bit (at most ${2 ** 31 - 1} tokens per micro-batch)`);
  }
  if (p.memBytes !== null && !(p.memBytes > 0)) throw new PlanInputError(`--gpu-mem must be a positive number of GiB`);
  if (p.offloadOptimizer && p.stage === 0) throw new PlanInputError('--offload-optimizer needs --zero 1, 2 or 3 (DeepSpeed offloads the partitioned optimizer state)');
  if (p.offloadParam && p.stage !== 3) throw new PlanInputError('--offload-param applies only to --zero 3 (parameters are partitioned only at stage 3)');
  if (p.tflops !== null && !(p.tflops > 0)) throw new PlanInputError('--tflops must be a positive number');
  if (!(p.mfu > 0 && p.mfu <= 1)) throw new PlanInputError(`--mfu must be in (0, 1], got ${p.mfu}`);
  if (!(p.intraNodeGbps > 0) || !(p.interNodeGbps > 0)) throw new PlanInputError('--intra-node-gbps and --inter-node-gbps must be positive');
  if (p.lora) {
    positiveInt(p.lora.r, '--lora-r');
    if (p.lora.targets.length === 0) throw new PlanInputError('--lora-targets lists no module');
    try {
      loraAdapters(p.spec, p.lora);
    } catch (e) {
      throw new PlanInputError((e as Error).message);
    }
  }
}

function memoryFor(p: PlanInput, overrides: Partial<PlanInput> = {}) {
  const q = { ...p, ...overrides };
  return planMemory({
    spec: q.spec,
    worldSize: q.gpus,
    device: q.device,
    precision: q.precision,
    gradAccumDtype: q.gradAccumDtype,
    seqLen: q.seqLen,
    microBatch: q.microBatch,
    stage: q.stage,
    recompute: q.recompute,
    offloadOptimizer: q.offloadOptimizer,
    offloadParam: q.offloadParam,
    persistenceThreshold: q.persistenceThreshold,
    overlapComm: q.overlapComm ?? q.stage === 3,
    prefetch: q.prefetch,
    logitsChunk: q.logitsChunk,
    lora: q.lora,
    loraDropout: q.loraDropout ?? 0,
    blasWorkspaceBytes: q.blasWorkspaceBytes,
  });
}

/** Largest micro-batch whose plan fits (0 when even 1 does not), searched up to MAX_MICRO_BATCH_SEARCHED. */
function largestMicroBatch(p: PlanInput, memBytes: number): number {
  const fits = (b: number): boolean => memoryFor(p, { microBatch: b }).perGpu.total <= memBytes;
  if (!fits(1)) return 0;
  let lo = 1;
  let hi = 2;
  while (hi <= MAX_MICRO_BATCH_SEARCHED && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi > MAX_MICRO_BATCH_SEARCHED) return lo;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export function makePlan(p: PlanInput): Plan {
  validatePlanInput(p);
  const nodes = Math.ceil(p.gpus / p.gpusPerNode);
  const mem = memoryFor(p);
  const overlapComm = p.overlapComm ?? p.stage === 3;
  const step: StepTime = planStepTime({
    spec: p.spec, worldSize: p.gpus, gpusPerNode: p.gpusPerNode, seqLen: p.seqLen, microBatch: p.microBatch,
    gradAccumSteps: p.gradAccumSteps, stage: p.stage, recompute: p.recompute, precision: p.precision,
    gradAccumDtype: p.gradAccumDtype, lora: p.lora, persistenceThreshold: p.persistenceThreshold, tflops: p.tflops,
    mfu: p.mfu, intraNodeGbps: p.intraNodeGbps, interNodeGbps: p.interNodeGbps, overlapComm,
  });
  const count = buildParamTable(p.spec).count;
  const adapters = p.lora ? loraAdapters(p.spec, p.lora).params : 0;
  let fits: boolean | null = null;
  let reason: string | null = null;
  let maxMicroBatch: number | null = null;
  let lowest: ZeroStage | null = null;
  if (p.memBytes !== null) {
    const cap = p.memBytes;
    fits = mem.perGpu.total <= cap;
    maxMicroBatch = largestMicroBatch(p, cap);
    for (const stage of [0, 1, 2, 3] as const) {
      if (p.offloadOptimizer && stage === 0) continue;
      if (p.offloadParam && stage !== 3) continue;
      if (memoryFor(p, { stage }).perGpu.total <= cap) {
        lowest = stage;
        break;
      }
    }
    if (!fits) reason = whyNot(p, mem.perGpu, cap, maxMicroBatch);
  }
  return {
    model: p.modelName,
    layout: p.spec.layout,
    params: count + adapters,
    trainable_params: p.lora ? adapters : count,
    gpus: p.gpus,
    gpus_per_node: Math.min(p.gpusPerNode, p.gpus),
    nodes,
    gpu: p.deviceName,
    device: p.device,
    gpu_mem_bytes: p.memBytes,
    zero_stage: p.stage,
    precision: p.precision,
    grad_accum_dtype: p.gradAccumDtype,
    seq_len: p.seqLen,
    micro_batch: p.microBatch,
    grad_accum_steps: p.gradAccumSteps,
    gradient_checkpointing: p.recompute,
    offload_optimizer: p.offloadOptimizer,
    offload_param: p.offloadParam,
    lora: p.lora,
    per_gpu_bytes: mem.perGpu,
    detail: mem.detail,
    host_bytes_per_node: mem.hostPerRank * Math.min(p.gpusPerNode, p.gpus),
    fits,
    reason,
    max_micro_batch: maxMicroBatch,
    lowest_comm_stage: lowest,
    flops_per_step: step.flopsPerStep,
    tokens_per_step: step.tokensPerStep,
    tflops: p.tflops,
    mfu: p.mfu,
    comm_bytes_per_gpu: step.commBytesPerGpu,
    intra_node_gbps: p.intraNodeGbps,
    inter_node_gbps: p.interNodeGbps,
    compute_s: step.computeS,
    comm_s: step.commS,
    step_time_s: step.stepTimeS,
    step_time_overlap_s: step.overlappedS,
    step_time_no_overlap_s: step.serialS,
    overlap_comm: overlapComm,
    deepspeed_estimate: deepspeedEstimate(p.spec, Math.min(p.gpusPerNode, p.gpus), nodes, p.offloadOptimizer, p.offloadParam),
  };
}

/** One sentence: what does not fit, and what would. */
function whyNot(p: PlanInput, b: DeviceBytes, cap: number, maxMicroBatch: number): string {
  const of = `the ${gib(cap)} of ${p.deviceName}`;
  if (maxMicroBatch > 0) return `micro-batch ${p.microBatch} x ${p.seqLen} tokens needs ${gib(b.total)} per GPU, more than ${of}; the largest micro-batch that fits is ${maxMicroBatch}`;
  const one = memoryFor(p, { microBatch: 1 }).perGpu;
  if (one.activations + one.workspace > cap) {
    const fix = p.recompute ? 'shorten --seq-len' : 'try --gradient-checkpointing or a shorter --seq-len';
    return `one sequence of ${p.seqLen} tokens needs ${gib(one.activations)} of activations alone, more than ${of} at any GPU count or ZeRO stage (activations are not sharded): ${fix}`;
  }
  const states = one.params + one.grads + one.master + one.optim;
  // only what is left to try: a higher stage below 3, offload where it is off, recompute where it is off
  const offload = p.stage === 3 ? !(p.offloadOptimizer && p.offloadParam) : !p.offloadOptimizer;
  const tries = [p.stage < 3 ? 'a higher ZeRO stage' : null, 'more GPUs', offload ? 'offload' : null, p.recompute ? null : '--gradient-checkpointing'].filter((t) => t !== null);
  return `even micro-batch 1 needs ${gib(one.total)} per GPU (model states ${gib(states)} at ZeRO stage ${p.stage} on ${p.gpus} GPU(s)), more than ${of}: use ${tries.slice(0, -1).join(', ')}${tries.length > 1 ? ' or ' : ''}${tries[tries.length - 1]}`;
}

/** Bytes as GiB, or MiB below 1 GiB (small models, CPU runs). */
export function gib(bytes: number): string {
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(bytes < 10 * 2 ** 30 ? 2 : 1)} GiB`;
}

function flops(f: number): string {
  return f >= 1e15 ? `${(f / 1e15).toFixed(1)} PFLOP` : `${(f / 1e12).toFixed(2)} TFLOP`;
}

function seconds(s: number | null): string {
  if (s === null) return '?';
  return s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(1)} ms`;
}

/** The human-readable plan (telechat-plan without --json, telechat-train --dry-run). */
export function formatPlan(plan: Plan): string[] {
  const b = plan.per_gpu_bytes;
  const d = plan.detail;
  const lines: string[] = [];
  const params = plan.lora
    ? `${(plan.params / 1e9).toFixed(3)}B parameters (${plan.trainable_params.toLocaleString('en-US')} trainable: LoRA r=${plan.lora.r} on ${plan.lora.targets.join(', ')})`
    : `${(plan.params / 1e9).toFixed(3)}B parameters`;
  lines.push(`plan: ${plan.model} (${plan.layout}), ${params}`);
  lines.push(
    `  ${plan.gpus} x ${plan.gpu} (${plan.nodes} node(s) of ${plan.gpus_per_node}), ZeRO stage ${plan.zero_stage}, ${plan.precision} (gradients ${plan.grad_accum_dtype}), ` +
      `micro-batch ${plan.micro_batch} x ${plan.seq_len} tokens, accumulation ${plan.grad_accum_steps}, gradient checkpointing ${plan.gradient_checkpointing ? 'on' : 'off'}` +
      `${plan.offload_optimizer ? ', offload optimizer' : ''}${plan.offload_param ? ', offload params' : ''}`,
  );
  lines.push(`  memory per ${plan.device === 'cpu' ? 'rank' : 'GPU'}:`);
  const row = (name: string, bytes: number, note = ''): void => {
    lines.push(`    ${name.padEnd(12)} ${gib(bytes).padStart(10)}${note ? '  ' + note : ''}`);
  };
  row('params', b.params);
  row('grads', b.grads);
  row('master', b.master, b.master === 0 && plan.offload_optimizer ? '(on the host)' : '');
  row('optimizer', b.optim, b.optim === 0 && plan.offload_optimizer ? '(on the host)' : '(Adam moments)');
  row('activations', b.activations, `(recompute on ${gib(d.activations_recompute)}, off ${gib(d.activations_no_recompute)}; logits chunk ${gib(d.logits_chunk)} inside them)`);
  row('buffers', b.buffers, `(stage-3 gathered units ${gib(d.gathered)}, gradient buckets ${gib(d.buckets)}, step staging ${gib(d.step_staging)})`);
  row('workspace', b.workspace, plan.device === 'cpu' ? '(Gloo scratch)' : '(cuBLAS, attention and loss scratch)');
  row('margin', b.margin, plan.device === 'cpu' ? '(assumed: 5% fragmentation)' : '(assumed: 1 GiB CUDA context + NCCL, 5% fragmentation)');
  row('total', b.total, plan.gpu_mem_bytes === null ? '' : `of ${gib(plan.gpu_mem_bytes)}`);
  if (plan.host_bytes_per_node > 0) lines.push(`  host memory per node for offload: ${gib(plan.host_bytes_per_node)}`);
  if (plan.fits === null) lines.push('  verdict: unknown (device memory unknown: pass --gpu or --gpu-mem)');
  else lines.push(`  verdict: ${plan.fits ? 'fits' : 'does not fit'}${plan.reason ? `: ${plan.reason}` : ''}`);
  if (plan.max_micro_batch !== null) {
    lines.push(`  largest micro-batch that fits: ${plan.max_micro_batch}${plan.max_micro_batch >= MAX_MICRO_BATCH_SEARCHED ? ' (search cap)' : ''}`);
    lines.push(`  lowest-communication ZeRO stage that fits: ${plan.lowest_comm_stage ?? 'none'}`);
  }
  lines.push(
    `  step: ${flops(plan.flops_per_step)} (${plan.tokens_per_step} tokens), ${gib(plan.comm_bytes_per_gpu)} sent per GPU; ` +
      `peak ${plan.tflops ?? '?'} TFLOP/s at assumed MFU ${plan.mfu}, links ${plan.intra_node_gbps} Gb/s in a node, ${plan.inter_node_gbps} Gb/s across nodes`,
  );
  if (plan.step_time_s === null) lines.push(`  step time: unknown (no peak TFLOP/s known for ${plan.gpu} in ${plan.precision}; telechat-plan --tflops sets one); communication ${seconds(plan.comm_s)}`);
  else {
    lines.push(
      `  step time: ${seconds(plan.step_time_s)} ${plan.overlap_comm ? '(communication overlapped' : '(communication not overlapped'}; compute ${seconds(plan.compute_s)}, communication ${seconds(plan.comm_s)}; ` +
        `overlapped ${seconds(plan.step_time_overlap_s)}, serial ${seconds(plan.step_time_no_overlap_s)})`,
    );
  }
  const ds = plan.deepspeed_estimate;
  lines.push(
    `  DeepSpeed's estimator (model states only, ${ds.cpu_offload ? 'offload optimizer' : 'no offload'}${ds.cpu_offload_params ? ' + params' : ''}): ` +
      `zero2 ${gib(ds.zero2.gpu_bytes)}/GPU, ${gib(ds.zero2.cpu_bytes_per_node)} host/node; zero3 ${gib(ds.zero3.gpu_bytes)}/GPU, ${gib(ds.zero3.cpu_bytes_per_node)} host/node`,
  );
  return lines;
}
