// DeepSpeed's own model-state estimators, reproduced exactly, so users can compare our plan
// with the numbers they know. Source: deepspeedai/DeepSpeed (commit edaa7221, 2026-08-22)
// deepspeed/runtime/zero/stage_1_and_2.py estimate_zero2_model_states_mem_needs and
// deepspeed/runtime/zero/stage3.py estimate_zero3_model_states_mem_needs / model_to_params.
// They count model states only (no activations, buckets or workspace) and assume fp16
// parameters and gradients with fp32 gradient copies; additional_buffer_factor 1.5 pads the
// host side. docs/planning.md explains why they differ from our plan and from the ZeRO paper.
//
// zero2 (cpu_offload = offload_optimizer):
//   offload:    gpu = 2 P;                       cpu = P * max(4 * gpus, 16) * 1.5
//   no offload: gpu = 2 P + int(18 P / gpus);    cpu = P * 4 * gpus_per_node * 1.5
// zero3 (zero_init = true, largest_layer_memory = 4 * largest_layer_params):
//   offload optimizer + params: gpu = LLM;                   cpu = P * 18 / nodes * 1.5
//   offload optimizer only:     gpu = LLM + int(2 P / gpus); cpu = P * 16 / nodes * 1.5
//   no offload:                 gpu = LLM + int(18 P / gpus); cpu = largest_layer_params * 4 * gpus_per_node * 1.5
// Python int() truncates toward zero; every value here is positive, so Math.floor.
//
// Under LoRA the model handed to estimate_zero{2,3}_model_states_mem_needs_all_live is the PEFT
// model: model_to_params counts every parameter (requires_grad is not read), the frozen base
// and the adapters alike, and the largest module may be an adapter's lora_A or lora_B. So
// total_params = base + adapters (the plan's `params`), priced as if all were trained.
import { buildParamTable } from '../model/params.js';
import type { ModelSpec } from '../model/spec.js';
import { blockProjections, loraAdapters, type LoraSetup } from './lora.js';

export const ADDITIONAL_BUFFER_FACTOR = 1.5;

export interface DeepSpeedEstimate {
  total_params: number;
  largest_layer_params: number;
  cpu_offload: boolean;
  cpu_offload_params: boolean;
  zero2: { gpu_bytes: number; cpu_bytes_per_node: number };
  zero3: { gpu_bytes: number; cpu_bytes_per_node: number; largest_layer_memory: number };
}

export function estimateZero2(totalParams: number, gpusPerNode: number, nodes: number, cpuOffload: boolean, factor = ADDITIONAL_BUFFER_FACTOR): { cpu: number; gpu: number } {
  const totalGpus = nodes * gpusPerNode;
  let gpu: number;
  let cpu: number;
  if (cpuOffload) {
    gpu = 2 * totalParams;
    cpu = totalParams * Math.max(4 * totalGpus, 16) * factor;
  } else {
    gpu = 2 * totalParams + Math.floor((18 * totalParams) / totalGpus);
    cpu = totalParams * 4 * gpusPerNode * factor;
  }
  return { cpu: Math.floor(cpu), gpu: Math.floor(gpu) };
}

export function estimateZero3(
  totalParams: number,
  largestLayerParams: number,
  gpusPerNode: number,
  nodes: number,
  cpuOffload: boolean,
  cpuOffloadParams: boolean,
  zeroInit = true,
  factor = ADDITIONAL_BUFFER_FACTOR,
): { cpu: number; gpu: number; largestLayerMemory: number } {
  const totalGpus = nodes * gpusPerNode;
  const gpusFactor = 1 / nodes;
  const largestLayerMemory = 4 * largestLayerParams;
  let gpu: number;
  let cpu: number;
  if (cpuOffload) {
    if (cpuOffloadParams) {
      gpu = largestLayerMemory;
      cpu = zeroInit ? totalParams * 18 * gpusFactor * factor : totalParams * Math.max(4 * gpusPerNode, 18 * gpusFactor) * factor;
    } else {
      gpu = largestLayerMemory + Math.floor((2 * totalParams) / totalGpus);
      cpu = zeroInit ? totalParams * 16 * gpusFactor * factor : totalParams * Math.max(4 * gpusPerNode, 16 * gpusFactor) * factor;
    }
  } else {
    gpu = largestLayerMemory + Math.floor((18 * totalParams) / totalGpus);
    cpu = zeroInit ? largestLayerParams * 4 * gpusPerNode * factor : totalParams * 4 * gpusPerNode * factor;
  }
  return { cpu: Math.floor(cpu), gpu: Math.floor(gpu), largestLayerMemory };
}

/**
 * model_to_params for the Hugging Face module tree of a TeleChat checkpoint (wrapped by PEFT
 * under LoRA): parameters counted once (tied weights are shared), and the largest number of
 * parameters any single module holds directly (nn.Embedding, nn.Linear with its bias, Conv1D,
 * a norm, an adapter's lora_A or lora_B; PEFT's LoRA wrapper itself holds none directly).
 */
export function modelToParams(spec: ModelSpec, lora: LoraSetup | null = null): { totalParams: number; largestLayerParams: number } {
  const { hidden: H, vocab: V } = spec;
  const biases = spec.outputBiases ? H : 0;
  // dense and down_proj carry their bias in the same module (v1/TeleChat2)
  const modules = blockProjections(spec).map((p) => p.in * p.out + (p.name === 'dense' || p.name === 'down_proj' ? biases : 0));
  const adapters = lora ? loraAdapters(spec, lora) : null;
  const largestLayerParams = Math.max(V * H, ...modules, adapters?.largestModule ?? 0);
  return { totalParams: buildParamTable(spec).count + (adapters?.params ?? 0), largestLayerParams };
}

export function deepspeedEstimate(spec: ModelSpec, gpusPerNode: number, nodes: number, offloadOptimizer: boolean, offloadParam: boolean, lora: LoraSetup | null = null): DeepSpeedEstimate {
  const { totalParams, largestLayerParams } = modelToParams(spec, lora);
  const z2 = estimateZero2(totalParams, gpusPerNode, nodes, offloadOptimizer);
  // DeepSpeed's zero3 helper reads cpu_offload_params only when cpu_offload is set
  const z3 = estimateZero3(totalParams, largestLayerParams, gpusPerNode, nodes, offloadOptimizer, offloadParam);
  return {
    total_params: totalParams,
    largest_layer_params: largestLayerParams,
    cpu_offload: offloadOptimizer,
    cpu_offload_params: offloadParam,
    zero2: { gpu_bytes: z2.gpu, cpu_bytes_per_node: z2.cpu },
    zero3: { gpu_bytes: z3.gpu, cpu_bytes_per_node: z3.cpu, largest_layer_memory: z3.largestLayerMemory },
  };
}
