// Bytes the model and optimizer will allocate, by category, computed from the architecture
// alone (for --dry-run on machines that could not hold the model). A test checks these
// numbers against the allocator after building the real thing.
import { allocatedBytes } from '../native/alloc_size.js';
import { DType, dtypeSize, type Device } from '../native/tensor.js';
import { phaseLayout } from './activations.js';
import { DEFAULT_LOGITS_CHUNK } from './model.js';
import { buildLoraTable, loraTargets } from './lora.js';
import { buildParamTable } from './params.js';
import type { ModelSpec } from './spec.js';

export interface MemoryPlan {
  params: number;
  grads: number;
  master: number;
  optim: number;
  activations: number;
}

export function activationBytes(spec: ModelSpec, dtype: DType, capacity: number, logitsChunk: number, recompute: boolean, device: Device = 'cpu'): number {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, nLayers: L } = spec;
  const T = capacity;
  const a = (n: number) => allocatedBytes(n * dtypeSize[dtype], device);
  const f32 = (n: number) => allocatedBytes(n * 4, device);
  const qkv = (nh + 2 * nkv) * D;
  // rstd1, qkv, att, lse, x2 (gradient checkpointing's shared set only), rstd2, gu
  // (activations.ts BlockActivations)
  const block = f32(T) + a(T * qkv) + a(T * nh * D) + f32(nh * T) + (recompute ? a(T * H) : 0) + f32(T) + a(T * 2 * F);
  const resid = (L + 1) * a(T * H);
  const blocks = (recompute ? 1 : L) * block;
  // rstd, dresid, rstdf, the phase buffer (ln and the MLP's | ln and attention's | the head's
  // temporaries and logits)
  const work = a(T * H) + 2 * f32(T) + a(phaseLayout(spec, T, logitsChunk).elements);
  return resid + blocks + work;
}

/**
 * Per-rank bytes of ZeRO stage `stage` on `worldSize` ranks (mirrors src/zero/zero_engine.ts:
 * one allocation per unit, each unit padded to 32 * worldSize elements).
 */
export function memoryPlan(
  spec: ModelSpec,
  dtype: DType,
  gradDtype: DType,
  capacity: number,
  recompute: boolean,
  stage: 0 | 1 | 2 | 3 = 0,
  worldSize = 1,
  persistenceThreshold = 0,
  logitsChunk = DEFAULT_LOGITS_CHUNK,
  device: Device = 'cpu',
  lora: { r: number; targets: string[] } | null = null,
): MemoryPlan {
  const rounded = (bytes: number): number => allocatedBytes(bytes, device);
  const plan: MemoryPlan = { params: 0, grads: 0, master: 0, optim: 0, activations: activationBytes(spec, dtype, capacity, logitsChunk, recompute, device) };
  // LoRA: the frozen base keeps only its parameters (sharded at stage 3); the adapters' table
  // carries the training state exactly as the full model's would
  const table = lora ? buildLoraTable(spec, loraTargets(spec, { targetModules: lora.targets }), lora.r, worldSize) : buildParamTable(spec, worldSize);
  if (lora) {
    for (const u of buildParamTable(spec, worldSize).units) {
      const length = u.end - u.start;
      plan.params += rounded((stage === 3 && length > persistenceThreshold ? length / worldSize : length) * dtypeSize[dtype]);
    }
  }
  for (const u of table.units) {
    const length = u.end - u.start;
    const chunk = length / worldSize;
    const sharded = stage === 3 && length > persistenceThreshold;
    plan.params += rounded((sharded ? chunk : length) * dtypeSize[dtype]);
    plan.grads += rounded((stage <= 1 ? length : chunk) * dtypeSize[gradDtype]);
    const owned = stage === 0 ? length : chunk;
    if (dtype !== DType.F32) plan.master += rounded(owned * 4);
    plan.optim += 2 * rounded(owned * 4);
  }
  return plan;
}
