// The peak of MFU: the FLOP rate one rank's share of the machine can deliver, measured as the
// GEMM rate in the training dtype through the same backend the model uses (CPU: OpenBLAS fp32 or
// oneDNN bf16, a 1024^3 product; CUDA: cuBLAS, a 4096^3 product), best of 3. The dtype matters:
// a bf16 product runs at several times the fp32 rate on a CPU with AVX512-BF16, so a bf16 run
// measured against the fp32 peak reported MFU far above 100%.
//
// Measured at every start and cached as the highest rate seen: a run measuring while other runs
// (or its own other ranks) compete for the same cores sees a low peak and reports MFU above what
// it is (two concurrent runs showed 85%, a 2-rank run 100.9%), so a lower measurement does not
// replace a higher cached one. On CPU local rank 0 measures while the other local ranks wait; the
// cache key holds everything that changes the rate: host, CPU model, device (GPU model), dtype,
// thread count, and the addon build.
//
// A rank's share on CPU: with L ranks on C cores each rank gets floor(C / L) cores, so its peak
// is the GEMM rate at min(its threads, floor(C / L)) threads (telechat-launch sets
// OMP_NUM_THREADS to that). On CUDA each rank has its own GPU. MFU = model FLOPs of the step /
// (step time x world size x this peak), so the ranks' shares add up to at most the machine.
// TELECHAT_PEAK_TFLOPS=X gives the peak of one rank's share directly (nothing is measured).
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { addon, addonPath } from '../native/addon.js';
import type { Backend } from '../native/backend.js';
import { DType, MemCategory, alloc, dtypeName } from '../native/tensor.js';

export function measurePeakFlops(be: Backend, dtype: DType = DType.F32, n = be.device === 'cuda' ? 4096 : 1024): number {
  const x = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  const w = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  const y = alloc(dtype, [n, n], MemCategory.Buffers, be.device);
  try {
    be.linearForward(y, x, w, null, false);
    be.synchronize();
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = process.hrtime.bigint();
      be.linearForward(y, x, w, null, false);
      be.synchronize();
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return (2 * n ** 3) / best;
  } finally {
    x.free();
    w.free();
    y.free();
  }
}

/** Threads of one rank's share of the CPU: min(its threads, floor(cores / local ranks)), at least 1. */
export function shareThreads(threads: number, cores: number, localRanks: number): number {
  return Math.max(1, Math.min(threads, Math.floor(cores / localRanks)));
}

export interface PeakEntry {
  flops: number;
  measured_at: string;
}

interface PeakCache {
  format: 'telechat-peak-flops';
  version: 1;
  entries: Record<string, PeakEntry>;
}

export function peakCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'telechat-train', 'peak-flops.json');
}

/** The GPU models the NVIDIA driver lists, or null when it lists none (then nothing is cached). */
function gpuModels(): string | null {
  const root = '/proc/driver/nvidia/gpus';
  try {
    const names = readdirSync(root).map((d) => /Model:\s*(.+)/.exec(readFileSync(join(root, d, 'information'), 'utf8'))?.[1]?.trim() ?? '?');
    return names.length > 0 ? [...new Set(names)].sort().join('+') : null;
  } catch {
    return null;
  }
}

/** What the peak depends on, as one string; null when the device cannot be identified. */
export function peakKey(device: 'cpu' | 'cuda', dtype: DType, threads: number): string | null {
  const gpu = device === 'cuda' ? gpuModels() : 'cpu';
  if (gpu === null) return null;
  const build = existsSync(addonPath) ? `${statSync(addonPath).size}-${Math.round(statSync(addonPath).mtimeMs)}` : 'none';
  const parts = [
    `host=${hostname()}`,
    `cpu=${cpus()[0]?.model ?? '?'}`,
    `device=${gpu}`,
    `dtype=${dtypeName(dtype)}`,
    `threads=${device === 'cuda' ? 0 : threads}`,
    `addon=${build}`,
  ];
  return parts.join(' ');
}

export function readPeakCache(path: string): Record<string, PeakEntry> {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as PeakCache;
    return c.format === 'telechat-peak-flops' && c.version === 1 && typeof c.entries === 'object' ? c.entries : {};
  } catch {
    return {}; // missing or damaged: measured again and rewritten
  }
}

/** Adds one entry, atomically (temp file, then rename); a failure only costs a re-measurement later. */
export function writePeakCache(path: string, key: string, entry: PeakEntry): boolean {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const entries = { ...readPeakCache(path), [key]: entry };
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ format: 'telechat-peak-flops', version: 1, entries } satisfies PeakCache, null, 2) + '\n');
    renameSync(tmp, path);
    return true;
  } catch {
    return false;
  }
}

export interface Peak {
  /** FLOP/s of one rank's share. */
  flops: number;
  /** Where it came from, for the log. */
  source: string;
}

export function overridePeak(env: NodeJS.ProcessEnv): number | null {
  const raw = env.TELECHAT_PEAK_TFLOPS;
  if (raw === undefined || raw === '') return null;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`environment variable TELECHAT_PEAK_TFLOPS must be a positive number (TFLOP/s of one rank's share), got ${JSON.stringify(raw)}`);
  return v * 1e12;
}

/**
 * Collective (every rank calls it once; `barrier` waits for all): the peak of this rank's
 * share, from TELECHAT_PEAK_TFLOPS, or measured now (on CPU by local rank 0 alone) and kept as the
 * highest rate the cache has seen for this machine, dtype and thread count.
 */
export function rankPeak(be: Backend, dtype: DType, o: { localRank: number; localWorldSize: number; barrier: () => void; env?: NodeJS.ProcessEnv }): Peak {
  const env = o.env ?? process.env;
  const override = overridePeak(env);
  const threads = be.device === 'cuda' ? 0 : shareThreads(addon.getNumThreads(), availableParallelism(), o.localWorldSize);
  const path = peakCachePath(env);
  const key = peakKey(be.device, dtype, threads);
  const what = be.device === 'cuda' ? `${dtypeName(dtype)} GEMM on one GPU` : `${dtypeName(dtype)} GEMM on ${threads} thread(s)`;
  const cached = (): PeakEntry | null => {
    const e = key === null ? undefined : readPeakCache(path)[key];
    return e && e.flops > 0 ? e : null;
  };
  const fromCache = (e: PeakEntry, note = ''): Peak => ({ flops: e.flops, source: `${what}, measured ${e.measured_at}, cached in ${path}${note}` });
  // A rate measured while other jobs share the cores is low (MFU would read high), so the cache
  // keeps the highest: a start under load uses an earlier, quieter measurement, and a quieter start
  // raises it.
  const measure = (): Peak => {
    const before = addon.getNumThreads();
    if (be.device !== 'cuda') addon.setNumThreads(threads);
    let flops: number;
    try {
      flops = measurePeakFlops(be, dtype);
    } finally {
      if (be.device !== 'cuda') addon.setNumThreads(before);
    }
    if (key === null) return { flops, source: `${what}, measured now (the driver names no GPU model: not cached)` };
    const best = cached();
    if (best !== null && best.flops >= flops) return fromCache(best, ` (the highest so far; this start measured ${(flops / 1e12).toPrecision(4)} TFLOP/s)`);
    const saved = writePeakCache(path, key, { flops, measured_at: new Date().toISOString() });
    return { flops, source: `${what}, measured now${saved ? `, cached in ${path}` : ` (cannot write the cache ${path})`}` };
  };
  if (override !== null) {
    o.barrier();
    return { flops: override, source: 'TELECHAT_PEAK_TFLOPS' };
  }
  // CPU: local rank 0 measures while the other local ranks wait, idle, at the barrier, then read
  // what it kept; GPUs are not shared, so each rank measures its own
  const mine = o.localRank === 0 || be.device === 'cuda' ? measure() : null;
  o.barrier();
  if (mine !== null) return mine;
  const kept = cached();
  return kept !== null ? fromCache(kept) : measure();
}
