// Which device a run computes on (--device cpu | cuda | auto) and the backend for it. CUDA
// runs need a build with nvcc, a visible GPU, and 16-bit training: our FlashAttention-2
// kernels are bf16/fp16 only. "auto" picks the GPU when all three hold, else the CPU.
import { discoverRank } from '../distributed/env.js';
import { addon, cudaAddon } from '../native/addon.js';
import type { Backend } from '../native/backend.js';
import { cpuBackend } from '../native/cpu_backend.js';
import { createCudaBackend, selectCudaDevice } from '../native/cuda_backend.js';
import type { Device, DTypeName } from '../native/tensor.js';
import { memStats } from '../native/tensor.js';

export type DeviceFlag = Device | 'auto';

export interface DeviceChoice {
  device: Device;
  /** Why auto chose the CPU although the build has CUDA (for the log), else null. */
  note: string | null;
}

/** What the addon offers: built with CUDA, and how many GPUs are visible. */
export interface CudaAvailability {
  cuda: boolean;
  cudaDevices: number;
}

export function resolveDevice(flag: DeviceFlag, precision: DTypeName, info: CudaAvailability = addon.buildInfo()): DeviceChoice {
  if (flag === 'cpu') return { device: 'cpu', note: null };
  if (flag === 'cuda') {
    if (!info.cuda) throw new Error('--device cuda: this build has no CUDA backend (nvcc was not found when the addon was built; see docs/cuda.md)');
    if (info.cudaDevices < 1) throw new Error('--device cuda: no GPU is visible (cudaGetDeviceCount = 0; check the driver and CUDA_VISIBLE_DEVICES)');
    if (precision === 'fp32') {
      throw new Error('--device cuda trains in bf16 or fp16 (the FlashAttention-2 kernels have no fp32 path): enable "bf16" or "fp16" in the config, or use --device cpu');
    }
    return { device: 'cuda', note: null };
  }
  if (info.cuda && info.cudaDevices > 0) {
    if (precision === 'fp32') return { device: 'cpu', note: 'a GPU is visible but the config trains in fp32, which the CUDA backend does not do: running on the CPU (enable bf16 to use the GPU)' };
    return { device: 'cuda', note: null };
  }
  return { device: 'cpu', note: null };
}

/** The backend of `device`; for cuda, the rank's local rank (discoverRank) selects the GPU first. */
export function backendFor(device: Device, env: NodeJS.ProcessEnv = process.env): Backend {
  if (device === 'cpu') return cpuBackend;
  selectCudaDevice(discoverRank(env).localRank);
  return createCudaBackend();
}

/** Bytes per memory category on `device` (host accounting, or the CUDA caching allocator's). */
export function deviceMemStats(device: Device): ReturnType<typeof memStats> {
  return device === 'cuda' ? cudaAddon().cudaMemStats() : memStats();
}
