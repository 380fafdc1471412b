// Host-side checks of the CUDA backend that need no GPU: the addon carries the CUDA backend
// exactly when nvcc was available to the build, the device allocator fails with the CUDA
// reason when there is no GPU, the cuBLAS loader searches and reports like the NCCL loader,
// and the pure TypeScript checks of the cuda backend. Kernel results are proven on a GPU by
// scripts/device/check_cuda.sh (docs/cuda.md).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { addon, CUDA_FUNCTION_NAMES, cudaAddon, type CudaFunctions } from '../../src/native/addon.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { createCudaBackend, CUDA_ATTENTION_HEAD_DIMS, cudaBackendOver, cuSeqlensInfo } from '../../src/native/cuda_backend.js';
import { alloc, DType, INT32, MemCategory, Tensor, type ElementType } from '../../src/native/tensor.js';
import { loadModelSpec } from '../../src/model/spec.js';
import { cudaBuildRequired } from '../helpers/cuda_build.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const addonPath = join(repoRoot, 'build', 'native', 'Release', 'telechat_native.node');

// Runs the addon in a child process so the loader sees exactly `env` (it reads it at call time).
function childProbe(env: Record<string, string>): { paths: string[]; message: string } {
  const script = `const a = require(process.env.ADDON);
    let message = '';
    try { const i = a.cublasProbe(); message = 'FOUND ' + i.path; } catch (e) { message = e.message; }
    console.log(JSON.stringify({ paths: a.cublasSearchPaths(), message }));`;
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/nonexistent', ADDON: addonPath };
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...base, ...env } });
  return JSON.parse(out) as { paths: string[]; message: string };
}

describe('CUDA build', () => {
  it('compiles the CUDA backend in exactly when nvcc exists, and buildInfo says so', () => {
    const info = addon.buildInfo();
    const exported = CUDA_FUNCTION_NAMES.filter((k) => typeof (addon as unknown as Record<string, unknown>)[k] === 'function');
    expect(CUDA_FUNCTION_NAMES.length).toBeGreaterThan(25);
    // a build without the CUDA part fails here when nvcc exists or CI=true (helpers/cuda_build.ts)
    if (cudaBuildRequired('the checks of the CUDA functions')) {
      expect(info.cuda).toBe(true);
      expect(exported).toEqual([...CUDA_FUNCTION_NAMES]);  // every binding of cuda_ops.cc is registered
      // The kernels' instantiation table and the list the error message names agree, bf16 and fp16 (2).
      const dims = (dt: number) => Array.from({ length: 256 }, (_, i) => i + 1).filter((D) => cudaAddon().cudaAttentionSupported(D, dt));
      expect(dims(DType.BF16)).toEqual([...CUDA_ATTENTION_HEAD_DIMS]);
      expect(dims(2)).toEqual([...CUDA_ATTENTION_HEAD_DIMS]);
      expect(CUDA_ATTENTION_HEAD_DIMS).toEqual([32, 64, 96, 128]);
      expect(cudaAddon().cudaAttentionSupported(128, DType.F32)).toBe(false);
    } else {
      expect(info.cuda).toBe(false);
      expect(exported).toEqual([]);
      expect(() => cudaAddon()).toThrow(/no CUDA backend \(nvcc was not found/);
    }
    expect(Number.isInteger(info.cudaDevices) && info.cudaDevices >= 0).toBe(true);
    // No NVIDIA device node: the static runtime must report zero devices, not fail to load.
    if (!existsSync('/dev/nvidiactl')) expect(info.cudaDevices).toBe(0);
  });

  it('without a GPU, device allocation and the backend fail with the CUDA reason', () => {
    if (!cudaBuildRequired('device allocation without a GPU')) return;
    if (existsSync('/dev/nvidiactl')) {
      // only meaningful without a GPU (as on CI); on a GPU, scripts/device/check_cuda.sh checks the allocator
      console.warn('NOT RUN: device allocation without a GPU: this machine has one (scripts/device/check_cuda.sh covers it)');
      return;
    }
    const c = cudaAddon();
    expect(() => c.cudaAlloc(16, MemCategory.Params)).toThrow(/^cudaAlloc of 16 bytes: \S/);
    expect(() => alloc(DType.BF16, [4, 4], MemCategory.Activations, 'cuda')).toThrow(/cudaAlloc of 32 bytes/);
    const stats = c.cudaMemStats();
    expect(stats.totalCurrent).toBe(0);
    expect(stats.reserved).toBe(0);
    expect(() => createCudaBackend()).toThrow(/no GPU is visible/);
  });
});

describe('cuBLAS loader', () => {
  it('searches LD_LIBRARY_PATH, then the Python wheel folders, then the system path', () => {
    const { paths } = childProbe({ LD_LIBRARY_PATH: '/opt/ld-a:/opt/ld-b' });
    expect(paths.slice(0, 6)).toEqual([
      '/opt/ld-a/libcublas.so.13', '/opt/ld-a/libcublas.so.12', '/opt/ld-a/libcublas.so',
      '/opt/ld-b/libcublas.so.13', '/opt/ld-b/libcublas.so.12', '/opt/ld-b/libcublas.so',
    ]);
    expect(paths.some((p) => p.endsWith('nvidia/cu13/lib/libcublas.so.13'))).toBe(true);
    expect(paths.some((p) => p.endsWith('nvidia/cublas/lib/libcublas.so.12'))).toBe(true);
    expect(paths.slice(-3)).toEqual(['libcublas.so.13', 'libcublas.so.12', 'libcublas.so']);
  });

  it('also searches the environment of a bin folder on PATH (a venv not activated), each folder once', () => {
    const { paths } = childProbe({ LD_LIBRARY_PATH: '', PATH: `/opt/venv-x/bin:/usr/bin:${process.env.PATH ?? ''}` });
    expect(paths).toContain('/opt/venv-x/lib/python3*/site-packages/nvidia/cu13/lib/libcublas.so.13');
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('reports "cuBLAS not found, looked in: ..." naming every candidate', () => {
    const { paths, message } = childProbe({ LD_LIBRARY_PATH: '/opt/ld-a' });
    if (message.startsWith('FOUND')) throw new Error(`this machine has cuBLAS (${message}); the not-found check needs one without`);
    expect(message.startsWith(`cuBLAS not found, looked in: ${paths.join(', ')} (set TELECHAT_CUBLAS_PATH`)).toBe(true);
  });

  it('an explicit TELECHAT_CUBLAS_PATH must load: no silent fallback, the dlopen reason is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cublas-'));
    const fake = join(dir, 'libcublas.so.13');
    writeFileSync(fake, 'not an ELF file');
    const file = childProbe({ TELECHAT_CUBLAS_PATH: fake });
    expect(file.paths[0]).toBe(fake);
    expect(file.message).toMatch(new RegExp(`^cuBLAS not loadable from TELECHAT_CUBLAS_PATH: ${fake} \\(.*${fake}.*\\)$`));
    const folder = childProbe({ TELECHAT_CUBLAS_PATH: dir });
    expect(folder.message).toContain(`${dir}/libcublas.so.13 (`);
    expect(folder.message).toContain(`; ${dir}/libcublas.so.12 (`);
    expect(folder.message).toContain(`; ${dir}/libcublas.so (`);
  });
});

describe('cuBLAS loaded (a stand-in library) and the GEMM plans of linear layers', () => {
  // fake_cublas.cc exports the four symbols we resolve, with the BLAS column-major GEMM contract
  // on host memory; gemm_plan_check.cc runs native/src/cuda/gemm_plan.h's plans through the real
  // loader and compares with the row-major definitions (fp64 sums of a few fp32 products: 1e-5).
  const dir = mkdtempSync(join(tmpdir(), 'fake-cublas-'));
  const src = (...p: string[]) => join(repoRoot, ...p);
  execFileSync('g++', ['-shared', '-fPIC', '-O2', src('test', 'native', 'cuda_emulator', 'fake_cublas.cc'), '-o', join(dir, 'libcublas.so.13')]);
  execFileSync('g++', ['-std=c++17', '-O2', `-I${src('native', 'src')}`, src('test', 'native', 'cuda_emulator', 'gemm_plan_check.cc'),
    src('native', 'src', 'cuda', 'cublas_loader.cc'), '-ldl', '-o', join(dir, 'check')]);

  it('found through TELECHAT_CUBLAS_PATH (directory) and through LD_LIBRARY_PATH, version decoded', () => {
    const byVar = childProbe({ TELECHAT_CUBLAS_PATH: dir });
    expect(byVar.message).toBe(`FOUND ${dir}/libcublas.so.13`);
    const byLd = childProbe({ LD_LIBRARY_PATH: `/opt/none:${dir}` });
    expect(byLd.message).toBe(`FOUND ${dir}/libcublas.so.13`);
    const out = execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addonPath)}).cublasProbe()))`],
      { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TELECHAT_CUBLAS_PATH: dir } });
    expect(JSON.parse(out)).toEqual({ path: `${dir}/libcublas.so.13`, version: 130107 });
  });

  it('forward, dx (accumulated) and dw (accumulated) plans match y = x W^T, dx += dy W, dw += dy^T x; LoRA plans their definitions', () => {
    const r = JSON.parse(execFileSync(join(dir, 'check'), { encoding: 'utf8', env: { TELECHAT_CUBLAS_PATH: dir } })) as
      { path: string; version: number; status: number; y: number; dx: number; dw: number; lora: Record<string, number> };
    expect(r.status).toBe(0);
    expect(r.y).toBeLessThanOrEqual(1e-5);
    expect(r.dx).toBeLessThanOrEqual(1e-5);
    expect(r.dw).toBeLessThanOrEqual(1e-5);
    // u = scale x A^T, y[:, 4:7] += u B^T (other columns untouched), gB += dy_win^T u, du = scale dy_win B, gA += du^T x, dx += du A
    expect(Object.keys(r.lora).sort()).toEqual(['du', 'dx', 'ga', 'gb', 'u', 'y']);
    for (const [k, v] of Object.entries(r.lora)) expect(v, `lora ${k}`).toBeLessThanOrEqual(1e-5);
  });
});

describe('device allocator bookkeeping (caching_pool.h over a host "device")', () => {
  it('rounds sizes, reuses freed blocks, counts bytes per category, returns the cache on OOM; without caching, exact sizes freed at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pool-'));
    execFileSync('g++', ['-std=c++17', '-O1', `-I${join(repoRoot, 'native', 'src')}`,
      join(repoRoot, 'test', 'native', 'cuda_emulator', 'pool_check.cc'), '-o', join(dir, 'pool_check')]);
    let out = '';
    try { out = execFileSync(join(dir, 'pool_check'), { encoding: 'utf8' }); } catch (e) { out = String((e as { stdout?: string }).stdout ?? e); }
    expect(out.trim()).toBe('ok');
  });
});

describe('cuda backend checks (pure TypeScript)', () => {
  it('cu_seqlens: documents, longest document, and one clear error per fault', () => {
    expect(cuSeqlensInfo('op', Int32Array.from([0, 113, 316]), 316)).toEqual({ numDocs: 2, maxSeqlen: 203 });
    expect(cuSeqlensInfo('op', Int32Array.from([0, 0, 1024, 2047]), 2047)).toEqual({ numDocs: 3, maxSeqlen: 1024 });
    expect(() => cuSeqlensInfo('attn', Int32Array.from([1, 5]), 5)).toThrow('attn: cuSeqlens[0] is 1, expected 0');
    expect(() => cuSeqlensInfo('attn', Int32Array.from([0, 5, 4]), 4)).toThrow('attn: cuSeqlens decreases at index 2 (5 -> 4)');
    expect(() => cuSeqlensInfo('attn', Int32Array.from([0, 5]), 6)).toThrow('attn: cuSeqlens ends at 5, expected T = 6');
  });

  // A fake CudaFunctions that records each call: proves the backend's argument order and sizes
  // against native/src/cuda/api.h without a GPU (kernels themselves: check_cuda.sh).
  function recorder(): { c: CudaFunctions; calls: [string, unknown[]][] } {
    const calls: [string, unknown[]][] = [];
    const c = new Proxy({}, {
      get: (_t, name: string) => (...args: unknown[]) => {
        calls.push([name, args]);
        if (name === 'cudaAttentionSupported') return CUDA_ATTENTION_HEAD_DIMS.includes(args[0] as number);
        if (name === 'cudaCrossEntropy') return [12.5, 3, -1];
        if (name === 'cudaEmbeddingForward') return -1;
        return undefined;
      },
    }) as CudaFunctions;
    return { c, calls };
  }
  let nextPtr = 0x10000;
  function dev(type: ElementType, shape: number[]): Tensor {
    const t = new Tensor(nextPtr, type, shape, false, 'cuda');
    nextPtr += 0x10000;
    return t;
  }

  it('passes sizes and dtypes in the order of api.h', () => {
    const { c, calls } = recorder();
    const be = cudaBackendOver(c);
    const x = dev(DType.BF16, [6, 8]), y = dev(DType.BF16, [6, 8]), w = dev(DType.BF16, [8]), rstd = dev(DType.F32, [6]);
    be.rmsnormForward(y, rstd, x, w, 1e-5);
    const W = dev(DType.BF16, [5, 8]), b = dev(DType.BF16, [5]), out = dev(DType.BF16, [6, 5]);
    be.linearForward(out, x, W, b, true);
    const dW = dev(DType.F32, [5, 8]);
    be.linearBackward(null, dW, null, out, x, W, true);
    const gu = dev(DType.BF16, [6, 16]), h = dev(DType.BF16, [6, 8]);
    be.swigluForward(h, gu);
    const logits = dev(DType.BF16, [6, 11]), targets = dev(INT32, [6]);
    expect(be.crossEntropy(logits, targets, 0.5, 0.25, true)).toEqual({ lossSum: 12.5, count: 3 });
    expect(calls).toEqual([
      ['cudaRmsnormForward', [y.ptr, rstd.ptr, x.ptr, w.ptr, 6, 8, 1e-5, DType.BF16]],
      ['cudaLinearForward', [out.ptr, x.ptr, W.ptr, b.ptr, 6, 8, 5, DType.BF16, true]],
      ['cudaLinearBackward', [null, dW.ptr, null, out.ptr, x.ptr, W.ptr, 6, 8, 5, DType.BF16, DType.F32, true]],
      ['cudaSwigluForward', [h.ptr, gu.ptr, 6, 8, DType.BF16]],
      ['cudaCrossEntropy', [logits.ptr, targets.ptr, 6, 11, 0.5, 0.25, true, DType.BF16]],
    ]);
  });

  it('the shipped tiny model has a head dim the FlashAttention kernels are built for (its CUDA training run needs it)', () => {
    const spec = loadModelSpec(join(repoRoot, 'data', 'tiny-model', 'config.json'));
    expect(spec.headDim).toBe(32);
    expect(CUDA_ATTENTION_HEAD_DIMS).toContain(spec.headDim);
  });

  it('rejects host tensors, mismatched shapes and unsupported head dims by name before any CUDA call', () => {
    const { c, calls } = recorder();
    const be = cudaBackendOver(c);
    const host = new Tensor(0x1000, DType.BF16, [6, 8], false, 'cpu');
    expect(() => be.add(dev(DType.BF16, [6, 8]), host, dev(DType.BF16, [6, 8])))
      .toThrow('add: a is a cpu tensor; the cuda backend needs cuda tensors');
    // and the CPU backend refuses device tensors the same way, before touching their memory
    expect(() => cpuBackend.adamw({ master: dev(DType.F32, [8]), paramCopy: null, grad: dev(DType.BF16, [8]), expAvg: dev(DType.F32, [8]), expAvgSq: dev(DType.F32, [8]) },
      { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1, gradScale: 1, adamWMode: true }))
      .toThrow('adamw: master is a cuda tensor; the cpu backend needs cpu tensors');
    expect(() => be.linearForward(dev(DType.BF16, [6, 5]), dev(DType.BF16, [6, 8]), dev(DType.BF16, [5, 7]), null, false))
      .toThrow('linearForward: w is [5, 7] but x has 8 features (w must be [Out, In])');
    expect(() => be.swigluForward(dev(DType.BF16, [6, 8]), dev(DType.BF16, [6, 15])))
      .toThrow('swigluForward: gu rows must hold gate and up halves, got odd width 15');
    const shape = { nHeads: 4, nKvHeads: 2, headDim: 80, scale: 0.1 };
    expect(() => be.attentionForward(dev(DType.BF16, [6, 320]), dev(DType.F32, [24]), dev(DType.BF16, [6, 640]),
      dev(INT32, [2]), shape)).toThrow(/attentionForward: the CUDA FlashAttention kernels support head dims 32, 64, 96 and 128 in bf16 .*got headDim 80 in bf16/);
    expect(() => be.attentionForward(dev(DType.BF16, [6, 256]), dev(DType.F32, [24]), dev(DType.BF16, [6, 512]),
      dev(INT32, [2]), { ...shape, nKvHeads: 3, headDim: 64 })).toThrow('attentionForward: nHeads (4) is not a multiple of nKvHeads (3)');
    expect(calls.filter(([n]) => n !== 'cudaAttentionSupported')).toEqual([]);
  });
});
