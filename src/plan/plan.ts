// The capacity plan of a run: per-GPU memory by category, whether it fits, the largest
// micro-batch that fits, the ZeRO stage that fits with the least communication, a step-time estimate,
// and DeepSpeed's own estimator for comparison. telechat-plan and telechat-train --dry-run
// both print this (formatPlan), so the numbers users see before launch are one computation.
import type { ModelSpec } from '../model/spec.js';
import { buildParamTable } from '../model/params.js';
import type { Device } from '../native/tensor.js';
import { deepspeedEstimate, type DeepSpeedEstimate } from './deepspeed_estimate.js';
import { MAX_GPU_MEM_GIB } from './gpus.js';
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
  /** One sentence on device figures assumed rather than given or known (gpus.ts chooseDevice). */
  deviceAssumed?: string | null;
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
  /** Device figures assumed rather than given or known (a custom device's link speeds); null if none. */
  gpu_assumed: string | null;
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
  /**
   * Of the stages that fit this micro-batch (with this plan's offload flags), the one whose GPUs
   * send the fewest bytes per step (comm_bytes_per_gpu_by_stage); ties: the shorter step, then
   * the lower stage. null if none fits.
   */
  lowest_comm_stage: ZeroStage | null;
  /** comm_bytes_per_gpu at ZeRO stages 0, 1, 2 and 3, all else equal. */
  comm_bytes_per_gpu_by_stage: number[];
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

/** Tokens of one micro-batch at most: token indices are 32-bit. */
export const MAX_MICRO_BATCH_TOKENS = 2 ** 31 - 1;

/**
 * Upper bound of the count flags --gpus, --gpus-per-node, --grad-accum-steps and --lora-r
 * (2^20 = 1048576: beyond any cluster, accumulation or useful rank, and every byte and token
 * count stays an exact double).
 */
export const MAX_COUNT = 2 ** 20;

/** Upper bounds of --tflops (TFLOP/s; an exaflop per GPU) and the link flags (Gb/s; a petabit). */
export const MAX_TFLOPS = 1e6;
export const MAX_GBPS = 1e6;

/** Largest device memory a plan takes, bytes (gpus.ts MAX_GPU_MEM_GIB). */
const MAX_MEM_BYTES = MAX_GPU_MEM_GIB * 2 ** 30;

/** The largest micro-batch a plan may report at this sequence length (search cap and token limit). */
function microBatchCap(seqLen: number): number {
  return Math.min(MAX_MICRO_BATCH_SEARCHED, Math.floor(MAX_MICRO_BATCH_TOKENS / seqLen));
}

export function validatePlanInput(p: PlanInput): void {
  // safe integers only, so 1e300 or Infinity never reaches the arithmetic
  const count = (v: number, flag: string, max: number, what = 'a whole number'): void => {
    if (!(Number.isSafeInteger(v) && v >= 1 && v <= max)) throw new PlanInputError(`${flag} must be ${what} from 1 to ${max}, got ${v}`);
  };
  const positive = (v: number, flag: string, max: number, unit: string): void => {
    if (!(Number.isFinite(v) && v > 0 && v <= max)) throw new PlanInputError(`${flag} must be a positive number of ${unit} at most ${max}, got ${v}`);
  };
  count(p.gpus, '--gpus', MAX_COUNT, 'a whole number of GPUs');
  count(p.gpusPerNode, '--gpus-per-node', MAX_COUNT);
  if (p.gpus > p.gpusPerNode && p.gpus % p.gpusPerNode !== 0) {
    throw new PlanInputError(`--gpus ${p.gpus} is not a whole number of nodes of ${p.gpusPerNode} (--gpus-per-node)`);
  }
  count(p.seqLen, '--seq-len', MAX_MICRO_BATCH_TOKENS);
  count(p.microBatch, '--micro-batch', MAX_MICRO_BATCH_TOKENS);
  count(p.gradAccumSteps, '--grad-accum-steps', MAX_COUNT);
  if (p.microBatch * p.seqLen > MAX_MICRO_BATCH_TOKENS) {
    throw new PlanInputError(`--micro-batch ${p.microBatch} x --seq-len ${p.seqLen} = ${p.microBatch * p.seqLen} tokens can never fit: token indices are 32-bit (at most ${MAX_MICRO_BATCH_TOKENS} tokens per micro-batch)`);
  }
  if (p.memBytes !== null) positive(p.memBytes / 2 ** 30, '--gpu-mem', MAX_MEM_BYTES / 2 ** 30, 'GiB');
  if (p.offloadOptimizer && p.stage === 0) throw new PlanInputError('--offload-optimizer needs --zero 1, 2 or 3 (DeepSpeed offloads the partitioned optimizer state)');
  if (p.offloadParam && p.stage !== 3) throw new PlanInputError('--offload-param applies only to --zero 3 (parameters are partitioned only at stage 3)');
  if (p.tflops !== null) positive(p.tflops, '--tflops', MAX_TFLOPS, 'TFLOP/s');
  if (!(p.mfu > 0 && p.mfu <= 1)) throw new PlanInputError(`--mfu must be in (0, 1], got ${p.mfu}`);
  positive(p.intraNodeGbps, '--intra-node-gbps', MAX_GBPS, 'Gb/s');
  positive(p.interNodeGbps, '--inter-node-gbps', MAX_GBPS, 'Gb/s');
  if (p.lora) {
    count(p.lora.r, '--lora-r', MAX_COUNT);
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

/** Largest micro-batch whose plan fits (0 when even 1 does not), searched up to microBatchCap. */
function largestMicroBatch(p: PlanInput, memBytes: number): number {
  const cap = microBatchCap(p.seqLen);
  const fits = (b: number): boolean => memoryFor(p, { microBatch: b }).perGpu.total <= memBytes;
  if (!fits(1)) return 0;
  let lo = 1;
  let hi = 2;
  while (hi <= cap && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi > cap) {
    // lo <= cap < hi: the cap (not always a power of two) is the last candidate
    if (fits(cap)) return cap;
    hi = cap;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The step at ZeRO stage `stage`, all else as planned (overlap_comm's default follows the stage). */
function stepFor(p: PlanInput, stage: ZeroStage): StepTime {
  return planStepTime({
    spec: p.spec, worldSize: p.gpus, gpusPerNode: p.gpusPerNode, seqLen: p.seqLen, microBatch: p.microBatch,
    gradAccumSteps: p.gradAccumSteps, stage, recompute: p.recompute, precision: p.precision,
    gradAccumDtype: p.gradAccumDtype, lora: p.lora, persistenceThreshold: p.persistenceThreshold, tflops: p.tflops,
    mfu: p.mfu, intraNodeGbps: p.intraNodeGbps, interNodeGbps: p.interNodeGbps, overlapComm: p.overlapComm ?? stage === 3,
  });
}

const STAGES = [0, 1, 2, 3] as const;

/** Stages this plan's offload flags allow (optimizer offload needs 1-3, parameter offload 3). */
function allowedStages(p: PlanInput): ZeroStage[] {
  return STAGES.filter((s) => !(p.offloadOptimizer && s === 0) && !(p.offloadParam && s !== 3));
}

/**
 * Of the allowed stages that fit this micro-batch, the one whose GPUs send the fewest bytes per
 * step; ties go to the shorter step, then the lower stage. Not the lowest stage number: with
 * fp32 gradient accumulation stage 0's all-reduce sends 8 bytes per parameter, stages 1-2
 * (reduce-scatter + all-gather) 6.
 */
function leastCommStage(p: PlanInput, cap: number, steps: StepTime[]): ZeroStage | null {
  const fitting = allowedStages(p).filter((stage) => memoryFor(p, { stage }).perGpu.total <= cap);
  const order = (a: ZeroStage, b: ZeroStage): number =>
    steps[a]!.commBytesPerGpu - steps[b]!.commBytesPerGpu || (steps[a]!.stepTimeS ?? 0) - (steps[b]!.stepTimeS ?? 0) || a - b;
  return fitting.sort(order)[0] ?? null;
}

export function makePlan(p: PlanInput): Plan {
  validatePlanInput(p);
  const nodes = Math.ceil(p.gpus / p.gpusPerNode);
  const mem = memoryFor(p);
  const overlapComm = p.overlapComm ?? p.stage === 3;
  const steps = STAGES.map((stage) => stepFor(p, stage));
  const step = steps[p.stage]!;
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
    lowest = leastCommStage(p, cap, steps);
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
    gpu_assumed: p.deviceAssumed ?? null,
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
    comm_bytes_per_gpu_by_stage: steps.map((s) => s.commBytesPerGpu),
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
    // DeepSpeed's *_all_live estimators count every parameter of the (PEFT) model, adapters included
    deepspeed_estimate: deepspeedEstimate(p.spec, Math.min(p.gpusPerNode, p.gpus), nodes, p.offloadOptimizer, p.offloadParam, p.lora),
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
  const tries = remedies(p, one.total);
  const advice = tries.length > 0
    ? `use ${tries.slice(0, -1).join(', ')}${tries.length > 1 ? ' or ' : ''}${tries[tries.length - 1]}`
    : 'no higher ZeRO stage, GPU count, offload or recompute lowers it: use a shorter --seq-len or a GPU with more memory';
  return `even micro-batch 1 needs ${gib(one.total)} per GPU (model states ${gib(states)} at ZeRO stage ${p.stage} on ${p.gpus} GPU(s)), more than ${of}: ${advice}`;
}

/**
 * The changes that lower micro-batch 1's per-GPU need below `total`, each checked on the plan
 * itself: e.g. at stage 0 nothing is sharded, so more GPUs do not help, and offload needs stage 1+.
 */
function remedies(p: PlanInput, total: number): string[] {
  const need = (o: Partial<PlanInput>): number => memoryFor(p, { microBatch: 1, ...o }).perGpu.total;
  const lowers = (o: Partial<PlanInput>): boolean => need(o) < total;
  const out: string[] = [];
  if (allowedStages(p).some((stage) => stage > p.stage && lowers({ stage }))) out.push('a higher ZeRO stage');
  if (lowers({ gpus: 2 * p.gpus })) out.push('more GPUs');
  // optimizer offload needs stage 1+; parameter offload (stage 3) saves device memory only with it
  const optimizer = p.stage > 0 && !p.offloadOptimizer && lowers({ offloadOptimizer: true });
  const param = p.stage === 3 && !p.offloadParam && need({ offloadOptimizer: true, offloadParam: true }) < need({ offloadOptimizer: true });
  if (optimizer) out.push(param ? '--offload-optimizer (and --offload-param)' : '--offload-optimizer');
  else if (param) out.push(p.offloadOptimizer ? '--offload-param' : '--offload-param with --offload-optimizer');
  if (!p.recompute && lowers({ recompute: true })) out.push('--gradient-checkpointing');
  return out;
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
  if (plan.gpu_assumed) lines.push(`  device: ${plan.gpu_assumed}`);
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
    const cap = microBatchCap(plan.seq_len);
    const capNote = cap === MAX_MICRO_BATCH_SEARCHED ? ' (search cap)' : ` (cap: at most ${MAX_MICRO_BATCH_TOKENS} tokens per micro-batch)`;
    lines.push(`  largest micro-batch that fits: ${plan.max_micro_batch}${plan.max_micro_batch >= cap ? capNote : ''}`);
    const byStage = plan.comm_bytes_per_gpu_by_stage.map((b, s) => `${s}: ${gib(b)}`).join(', ');
    lines.push(`  least-communication ZeRO stage that fits: ${plan.lowest_comm_stage ?? 'none'} (sent per GPU per step at stage ${byStage})`);
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
  // under LoRA it prices the frozen base as trained too (it reads no requires_grad)
  const counted = plan.lora ? `, all ${(ds.total_params / 1e9).toFixed(3)}B parameters as if trained` : '';
  lines.push(
    `  DeepSpeed's estimator (model states only${counted}, ${ds.cpu_offload ? 'offload optimizer' : 'no offload'}${ds.cpu_offload_params ? ' + params' : ''}): ` +
      `zero2 ${gib(ds.zero2.gpu_bytes)}/GPU, ${gib(ds.zero2.cpu_bytes_per_node)} host/node; zero3 ${gib(ds.zero3.gpu_bytes)}/GPU, ${gib(ds.zero3.cpu_bytes_per_node)} host/node`,
  );
  return lines;
}
