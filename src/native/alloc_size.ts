// Bytes an allocation occupies as each device's allocator counts it (memStats, cudaMemStats).
import type { Device } from './tensor.js';

/**
 * The host allocator rounds to 64-byte granules (native/src/memory.h); the CUDA caching pool to
 * 512 B below 1 MiB and to 2 MiB from there (native/src/cuda/caching_pool.h pool_round).
 */
export function allocatedBytes(bytes: number, device: Device = 'cpu'): number {
  if (device === 'cpu') return Math.max(64, Math.ceil(bytes / 64) * 64);
  if (bytes <= 0) return 512;
  if (bytes < 2 ** 20) return Math.ceil(bytes / 512) * 512;
  return Math.ceil(bytes / 2 ** 21) * 2 ** 21;
}
