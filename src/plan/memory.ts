// Per-GPU bytes of a training run, by the categories the allocator counts (params, grads,
// master, optim, activations, buffers) plus what lives outside it (library workspace) and a
// stated margin. Model states and activations come from src/model/memory_plan.ts, the same
// accounting a test checks byte for byte against the allocator; the transient buffers follow
// src/zero/zero_engine.ts allocation by allocation (stage-3 gathered units, gradient buckets,
// the step's all-gather staging).
import { phaseLayout } from '../model/activations.js';
import { activationBytes, memoryPlan } from '../model/memory_plan.js';
import { allocatedBytes } from '../native/alloc_size.js';
import { buildParamTable, type UnitRange } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { DType, dtypeSize, type Device } from '../native/tensor.js';
import { loraAdapters, type LoraSetup } from './lora.js';
import type { MemoryBytes } from '../observe/step_metrics.js';
import { buildLoraTable, loraTargets } from '../model/lora.js';

export type Precision = 'bf16' | 'fp16' | 'fp32';
export type ZeroStage = 0 | 1 | 2 | 3;

export interface MemorySetup {
  spec: ModelSpec;
  worldSize: number;
  /** 'cuda': the caching pool's 2-MiB rounding, library workspace and margin; 'cpu': host allocator. */
  device: Device;
  precision: Precision;
  gradAccumDtype: Precision;
  seqLen: number;
  microBatch: number;
  stage: ZeroStage;
  recompute: boolean;
  offloadOptimizer: boolean;
  /** Stage 3 only (DeepSpeed's rule): parameter chunks of sharded units in host memory. */
  offloadParam: boolean;
  persistenceThreshold: number;
  overlapComm: boolean;
  prefetch: boolean;
  logitsChunk: number;
  lora: LoraSetup | null;
  /** LoRA dropout > 0 adds the dropped-input scratch. */
  loraDropout?: number;
  /** cuBLAS workspace (bytes) held outside our allocator; 0 on the CPU. */
  blasWorkspaceBytes: number;
}

/** The trainer's memory categories (metrics.jsonl "mem"), plus what only a plan adds. */
export interface DeviceBytes extends MemoryBytes {
  /** Library and kernel scratch outside the categories above (cuBLAS, attention, Gloo). */
  workspace: number;
  /** Allocator margin (see MARGIN_*). */
  margin: number;
  total: number;
}

export interface MemoryDetail {
  /** Activations at this micro-batch with recompute on and off (the setup uses one of them). */
  activations_recompute: number;
  activations_no_recompute: number;
  /** The [chunk, vocab] logits buffer (part of activations). */
  logits_chunk: number;
  /** Stage 3: gathered (and prefetched) units at their peak. */
  gathered: number;
  /** Stages 2-3: gradient buckets and reduced chunks in flight at their peak. */
  buckets: number;
  /** Stages 1-3: the step's all-gather staging of whole units. */
  step_staging: number;
  /** Batch index tensors and rotary tables. */
  batch_and_rope: number;
}

export interface MemoryResult {
  perGpu: DeviceBytes;
  /** Host bytes one rank keeps for offload (master, moments, staging, parameter chunks). */
  hostPerRank: number;
  detail: MemoryDetail;
}

/**
 * Allocator margin, a stated assumption (CUDA only): 1 GiB for the CUDA context with its
 * loaded kernels and NCCL's channel buffers, which the driver takes from device memory
 * outside any allocator, plus 5% of the pool's bytes for fragmentation (the caching pool
 * keeps freed blocks by size, so differently sized transients cannot reuse them). On the CPU
 * only the 5%.
 */
export const MARGIN_FIXED_BYTES = 2 ** 30;
export const MARGIN_FRACTION = 0.05;

export function storage(p: Precision): DType {
  return p === 'bf16' ? DType.BF16 : p === 'fp16' ? DType.F16 : DType.F32;
}

export function planMemory(s: MemorySetup): MemoryResult {
  const dtype = storage(s.precision);
  const gradDtype = storage(s.gradAccumDtype);
  const N = s.worldSize;
  const T = s.microBatch * s.seqLen;
  const dev = (b: number): number => allocatedBytes(b, s.device);
  const host = (b: number): number => allocatedBytes(b, 'cpu');
  const d = dtypeSize[dtype];
  const g = dtypeSize[gradDtype];
  const table = buildParamTable(s.spec, N);
  // under LoRA the trainable units are the adapters' (same unit names, their own sizes)
  const loraTable = s.lora ? buildLoraTable(s.spec, loraTargets(s.spec, { targetModules: s.lora.targets }), s.lora.r, N) : null;
  const trainable = loraTable ?? table;
  const sharded = (u: UnitRange): boolean => s.stage === 3 && u.end - u.start > s.persistenceThreshold;

  // ---- model states ------------------------------------------------------------------
  const full = memoryPlan(s.spec, dtype, gradDtype, T, s.recompute, s.stage, N, s.persistenceThreshold, s.logitsChunk, s.device, s.lora);
  const onHost = memoryPlan(s.spec, dtype, gradDtype, T, s.recompute, s.stage, N, s.persistenceThreshold, s.logitsChunk, 'cpu', s.lora);
  let params = full.params;
  let grads = full.grads;
  let master = full.master;
  let optim = full.optim;
  let hostPerRank = 0;
  const offloadParam = s.offloadParam && s.stage === 3 && s.device !== 'cpu';
  const offloadOptimizer = s.offloadOptimizer && s.device !== 'cpu';
  // memoryPlan counts (under LoRA) the frozen base's parameters, sharded at stage 3, and the
  // adapters' parameters, gradients, master weights and moments unit by unit, as the engine allocates
  if (offloadOptimizer) {
    // ShardAdamW(offload): master and moments on the host, plus host copies of the shard's
    // working parameters and gradients it stages each step
    // (parameter chunks already in host memory with offload_param need no host copy)
    const onDevice = trainable.units.filter((u) => !(s.offloadParam && s.stage === 3 && sharded(u)));
    hostPerRank += onHost.master + onHost.optim + staged(onDevice, s.stage, N, d, host) + staged(trainable.units, s.stage, N, g, host);
    master = 0;
    optim = 0;
  }
  if (offloadParam) {
    // chunks of sharded units live on the host; persistent units stay on the device
    let devParams = 0;
    for (const u of [...table.units, ...(loraTable?.units ?? [])]) {
      const len = u.end - u.start;
      // the adapters' embed and head units are empty: never sharded, a minimal block on the device
      if (sharded(u)) hostPerRank += host((len / N) * d);
      else devParams += dev(len * d);
    }
    params = devParams;
  }

  // ---- activations ---------------------------------------------------------------------
  const actOn = activationBytes(s.spec, dtype, T, s.logitsChunk, true, s.device);
  const actOff = activationBytes(s.spec, dtype, T, s.logitsChunk, false, s.device);
  const activations = s.recompute ? actOn : actOff;
  // LoRA adds nothing to the block activations; its adapters' one u = scale x A^T [T, r] (recomputed
  // by each target's backward, model/lora.ts) is scratch, counted with the buffers below

  // ---- transient buffers (zero_engine.ts) -------------------------------------------------
  const L = s.spec.nLayers;
  const byUnit = new Map(table.units.map((u) => [u.unit, u]));
  const unit = (k: UnitRange['unit']): UnitRange => byUnit.get(k)!;
  const len = (k: UnitRange['unit']): number => unit(k).end - unit(k).start;
  const gatheredUnit = (u: UnitRange | undefined): number =>
    u && sharded(u) ? dev((u.end - u.start) * d) + (offloadParam ? dev(((u.end - u.start) / N) * d) : 0) : 0;
  // a unit's base and, under LoRA, its adapters are gathered together
  const loraUnits = new Map((loraTable?.units ?? []).map((u) => [u.unit, u]));
  const gathered = (k: UnitRange['unit']): number => gatheredUnit(unit(k)) + gatheredUnit(loraUnits.get(k));
  // stages 2-3 reduce a whole-unit bucket of each unit's gradients into my chunk; with LoRA the
  // buckets hold only the block's adapters
  const loraBlock = s.lora ? loraAdapters(s.spec, s.lora).perBlock : 0;
  const bucketElems = (k: UnitRange['unit']): number => (s.lora ? (typeof k === 'number' ? loraBlock : 0) : len(k));
  const bucket = (k: UnitRange['unit']): number => (bucketElems(k) > 0 ? dev(bucketElems(k) * g) : 0);
  const inFlight = (k: UnitRange['unit']): number => (bucketElems(k) > 0 ? bucket(k) + dev(Math.ceil(bucketElems(k) / N) * g) : 0);
  const tied = s.spec.tiedEmbeddings;
  const blocks = Array.from({ length: L }, (_, l) => l);
  const order: UnitRange['unit'][] = ['embed', ...blocks, 'head', ...[...blocks].reverse(), 'embed'];
  const headAt = L + 1;
  let gatheredPeak = 0;
  let bucketPeak = 0;
  let backwardPeak = 0;
  for (let i = 0; i < order.length; i++) {
    const u = order[i]!;
    // stage 3: the running unit, the prefetched next one, and the embedding for a tied head
    let live = 0;
    if (s.stage === 3) {
      live = gathered(u);
      if (s.prefetch && i + 1 < order.length) live += gathered(order[i + 1]!);
      if (u === 'head' && tied) live += gathered('embed');
    }
    gatheredPeak = Math.max(gatheredPeak, live);
    let b = 0;
    if (s.stage >= 2 && i >= headAt) {
      // the bucket being written and its reduced chunk, plus up to two earlier units in flight
      b = inFlight(u);
      if (s.overlapComm) for (let j = 1; j <= 2 && i - j >= headAt; j++) b += inFlight(order[i - j]!);
      // a tied head writes the embedding's bucket, which lives until the embedding's backward
      if (tied && u !== 'embed') b += bucket('embed');
    }
    bucketPeak = Math.max(bucketPeak, b);
    backwardPeak = Math.max(backwardPeak, live + b);
  }
  // stages 1-3: the step copies my chunk of every whole trainable unit into staging, all in flight
  // at once (under LoRA the trainable units are the adapters')
  let stepStaging = 0;
  if (s.stage >= 1) {
    for (const u of trainable.units) if (!sharded(u)) stepStaging += dev(((u.end - u.start) / N) * d);
  }
  // the batch's ids, positions, targets (T each), cu_seqlens (a document per row) and the head's
  // selected targets (<= T), uploaded per micro-step and freed before the step; cos and sin
  // tables [seq, D/2] fp32, kept for the run
  const batchBytes = 4 * dev(T * 4) + dev((s.microBatch + 1) * 4);
  const ropeBytes = 2 * dev(((s.seqLen * s.spec.headDim) / 2) * 4) + (s.stage > 0 ? dev(8) : 0);
  const batchAndRope = batchBytes + ropeBytes;
  // offload_param without optimizer offload: AdamW runs on the device, so it keeps a device
  // copy of each host-resident chunk it trains for the whole run (ShardAdamW stagedParams; under
  // LoRA the adapters')
  let resident = 0;
  if (offloadParam && !offloadOptimizer) {
    for (const u of trainable.units) if (sharded(u)) resident += dev(((u.end - u.start) / N) * d);
  }
  const loraScratch = s.lora ? loraScratchBytes(s.spec, s.lora, T, dtype, gradDtype, s.loraDropout ?? 0, s.device) : 0;
  // the batch and the LoRA scratch live for the forward-backward only (freed before the step)
  const buffers = Math.max(backwardPeak + loraScratch + batchBytes, stepStaging) + ropeBytes + resident;

  // ---- outside the allocator --------------------------------------------------------------
  const logitsRows = phaseLayout(s.spec, T, s.logitsChunk).logitsRows;
  let workspace: number;
  if (s.device === 'cpu') {
    // Gloo's grow-only scratch (native/src/comm/gloo_comm.cc), sized by the largest unit: two
    // fp32 chunks for a ring step, and at stage 0 an fp32 copy of a 16-bit all-reduce
    const largest = Math.max(...table.units.map((u) => u.end - u.start));
    const wide = s.stage === 0 && d < 4 ? largest * 4 : 0;
    workspace = N === 1 ? 0 : host(wide + ((2 * largest) / N) * 4);
  } else {
    // cuBLAS workspace; kernel scratch: attention backward's delta [T, nh] fp32, or the loss's
    // per-row sums [logits chunk rows] fp64 (never live together)
    workspace = s.blasWorkspaceBytes + Math.max(dev(T * s.spec.nHeads * 4), dev(logitsRows * 8));
  }
  const pool = params + grads + master + optim + activations + buffers;
  const margin = Math.ceil(pool * MARGIN_FRACTION) + (s.device === 'cpu' ? 0 : MARGIN_FIXED_BYTES);
  const total = pool + workspace + margin;
  return {
    perGpu: { params, grads, master, optim, activations, buffers, workspace, margin, total },
    hostPerRank,
    detail: {
      activations_recompute: actOn,
      activations_no_recompute: actOff,
      logits_chunk: dev(logitsRows * s.spec.vocab * d),
      gathered: gatheredPeak,
      buckets: bucketPeak,
      step_staging: stepStaging,
      batch_and_rope: batchAndRope,
    },
  };
}

/** Bytes of one host copy (elementSize each) of the optimizer's part of every unit. */
function staged(units: UnitRange[], stage: ZeroStage, N: number, elementSize: number, round: (b: number) => number): number {
  return units.reduce((sum, u) => sum + round((stage === 0 ? u.end - u.start : (u.end - u.start) / N) * elementSize), 0);
}

/**
 * The LoRA scratch of one forward-backward (model/lora.ts `scratch`, kept until the call
 * ends): u = scale * x A^T, [T, r], one buffer that every target's forward and backward (which
 * recomputes it) reuse; with dropout the dropped input and its gradient [T, in] per distinct input width; the frozen
 * norms' weight-gradient scratch [H] (blocks and ln_f share it). The adapter products write
 * straight into the base output's columns (Backend loraForward), so there is no branch output.
 */
export function loraScratchBytes(spec: ModelSpec, lora: LoraSetup, T: number, dtype: DType, gradDtype: DType, dropout: number, device: Device): number {
  const dev = (b: number): number => allocatedBytes(b, device);
  const d = dtypeSize[dtype];
  const g = dtypeSize[gradDtype];
  const all = loraTargets(spec, { targetModules: lora.targets });
  const targets = all.filter((t) => t.layer === 0);
  let bytes = (all.length > 0 ? dev(T * lora.r * d) : 0) + dev(spec.hidden * g);
  if (dropout > 0) for (const i of new Set(targets.map((t) => t.in))) bytes += 2 * dev(T * i * d);
  return bytes;
}
