// Step time: FLOPs over an assumed utilisation of the device peak, communication volume over
// the link bandwidth, with and without overlap. FLOPs per token follow src/train/flops.ts
// (6 per matmul parameter, 7 H len^2 of causal attention per layer and document); gradient
// checkpointing runs every block's forward a second time in backward (2 per block matmul
// parameter, 2 H len^2 attention), and a frozen LoRA base skips its weight gradients
// (4 per parameter instead of 6) while its adapters cost 6 per parameter.
import type { ModelSpec } from '../model/spec.js';
import { buildParamTable } from '../model/params.js';
import { dtypeSize } from '../native/tensor.js';
import { matmulParams } from '../train/flops.js';
import { loraAdapters, type LoraSetup } from './lora.js';
import { storage, type Precision, type ZeroStage } from './memory.js';

export interface StepSetup {
  spec: ModelSpec;
  worldSize: number;
  gpusPerNode: number;
  seqLen: number;
  microBatch: number;
  gradAccumSteps: number;
  stage: ZeroStage;
  recompute: boolean;
  precision: Precision;
  gradAccumDtype: Precision;
  lora: LoraSetup | null;
  persistenceThreshold: number;
  /** Peak dense TFLOP/s of one device in the compute precision; null when unknown. */
  tflops: number | null;
  /** Assumed fraction of the peak the executed FLOPs run at. */
  mfu: number;
  intraNodeGbps: number;
  interNodeGbps: number;
  /** Reductions overlap backward (overlap_comm, stage-3 prefetch). */
  overlapComm: boolean;
}

export interface StepTime {
  /** Model FLOPs of one optimizer step, all GPUs together (the MFU numerator). */
  flopsPerStep: number;
  /** FLOPs one GPU executes per step (recompute included). */
  executedFlopsPerGpu: number;
  /** Bytes one GPU sends per step (ring collectives). */
  commBytesPerGpu: number;
  computeS: number | null;
  commS: number;
  /** max(compute, comm): communication hidden behind compute. */
  overlappedS: number | null;
  /** compute + comm. */
  serialS: number | null;
  /** The estimate for this setup: overlapped when reductions overlap, else serial. */
  stepTimeS: number | null;
  tokensPerStep: number;
}

/** Forward+backward FLOPs of one micro-batch on one GPU: [model FLOPs, executed FLOPs]. */
export function microBatchFlops(spec: ModelSpec, microBatch: number, seqLen: number, recompute: boolean, lora: LoraSetup | null): [number, number] {
  const T = microBatch * seqLen;
  const squares = microBatch * seqLen * seqLen;
  const P = matmulParams(spec);
  const attention = spec.nLayers * spec.hidden * squares; // x 2 forward, x 5 backward
  const base = lora ? 4 * P * T + 6 * loraAdapters(spec, lora).params * T : 6 * P * T;
  const model = base + 7 * attention;
  const headParams = spec.vocab * spec.hidden;
  const rerun = recompute ? 2 * (P - headParams) * T + 2 * attention : 0;
  return [model, model + rerun];
}

export function planStepTime(s: StepSetup): StepTime {
  const [model, executed] = microBatchFlops(s.spec, s.microBatch, s.seqLen, s.recompute, s.lora);
  const A = s.gradAccumSteps;
  const N = s.worldSize;
  const executedFlopsPerGpu = executed * A;
  const computeS = s.tflops === null ? null : executedFlopsPerGpu / (s.tflops * 1e12 * s.mfu);
  const commBytesPerGpu = commBytes(s);
  const nodes = Math.ceil(N / s.gpusPerNode);
  const gbps = nodes > 1 ? s.interNodeGbps : s.intraNodeGbps;
  const commS = commBytesPerGpu / ((gbps * 1e9) / 8);
  const overlappedS = computeS === null ? null : Math.max(computeS, commS);
  const serialS = computeS === null ? null : computeS + commS;
  return {
    flopsPerStep: model * A * N,
    executedFlopsPerGpu,
    commBytesPerGpu,
    computeS,
    commS,
    overlappedS,
    serialS,
    stepTimeS: s.overlapComm ? overlappedS : serialS,
    tokensPerStep: s.microBatch * s.seqLen * A * N,
  };
}

/**
 * Bytes one rank sends per optimizer step in ring collectives ((N-1)/N of the buffer for a
 * reduce-scatter or an all-gather, twice that for an all-reduce), following zero_engine.ts:
 *   stage 0  all-reduce of the gradients once per step
 *   stage 1  reduce-scatter once per step + all-gather of the updated parameters
 *   stage 2  reduce-scatter every micro-step + all-gather of the updated parameters
 *   stage 3  every micro-step: all-gather of each sharded unit in forward and again in
 *            backward (the fused head once) + reduce-scatter; no all-gather at the step
 * With LoRA only the adapters' gradients and updates travel; stage 3 still gathers the base.
 */
export function commBytes(s: Pick<StepSetup, 'spec' | 'worldSize' | 'stage' | 'gradAccumSteps' | 'precision' | 'gradAccumDtype' | 'lora' | 'persistenceThreshold'>): number {
  const N = s.worldSize;
  if (N === 1) return 0;
  const ring = (N - 1) / N;
  const d = dtypeSize[storage(s.precision)];
  const g = dtypeSize[storage(s.gradAccumDtype)];
  const table = buildParamTable(s.spec, N);
  const padded = table.total;
  const trained = s.lora ? loraAdapters(s.spec, s.lora).params : padded;
  const A = s.gradAccumSteps;
  if (s.stage === 0) return 2 * ring * trained * g;
  if (s.stage === 1) return ring * trained * (g + d);
  if (s.stage === 2) return ring * trained * (A * g + d);
  let gathered = 0;
  for (const u of table.units) {
    const len = u.end - u.start;
    if (len > s.persistenceThreshold) gathered += (u.unit === 'head' ? 1 : 2) * len;
  }
  // a tied LM head gathers the embedding a third time
  const embed = table.units[0]!.end - table.units[0]!.start;
  if (s.spec.tiedEmbeddings && embed > s.persistenceThreshold) gathered += embed;
  const persistent = padded - table.units.reduce((n, u) => n + (u.end - u.start > s.persistenceThreshold ? u.end - u.start : 0), 0);
  return ring * (A * (gathered * d + trained * g) + (s.lora ? 0 : persistent * d));
}
