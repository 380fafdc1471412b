// The instruction sets this CPU's /proc/cpuinfo lists that the native kernels choose by (the addon
// is built with -march=native, so what the CPU has is what the kernels were compiled for).
import { readFileSync } from 'node:fs';

export interface CpuFlags {
  avx512: boolean;
  avx2Fma: boolean;
  avx512Bf16: boolean;
  amxBf16: boolean;
}

export function cpuFlags(): CpuFlags {
  const text = readFileSync('/proc/cpuinfo', 'utf8');
  const has = (flag: string): boolean => new RegExp(`\\b${flag}\\b`).test(text);
  return { avx512: has('avx512f'), avx2Fma: has('avx2') && has('fma'), avx512Bf16: has('avx512_bf16'), amxBf16: has('amx_bf16') };
}

/** The fp32 tile kernel's instruction set as cpuAttentionTilePath() and cpuLoraTilePath() name it; null without one. */
export function f32TileIsa(f: CpuFlags): 'AVX-512' | 'AVX2' | null {
  return f.avx512 ? 'AVX-512' : f.avx2Fma ? 'AVX2' : null;
}
