// The CUDA kernels (the exact sources the GPU build compiles) run on the CPU through
// test/native/cuda_emulator/emulate.h: one thread per CUDA thread, barriers for __syncthreads,
// warp exchanges for shuffles and mma.sync, statics for __shared__ (one block at a time).
// FlashAttention-2 is compared with a float64 reference written in emulate_fa2.cc from the same
// 16-bit inputs; every other kernel with the CPU kernel of the same op (emulate_ops.cc).
//
// Tolerances (max |err| / max |ref|): out <= 1e-2 and dq, dk, dv <= 2e-2. The kernels store
// bf16 (2^-9 relative rounding per element) and, as FlashAttention-2 does, round P and dS to
// bf16 before the tensor-core products; observed errors are 0.1-0.4 % (fp16, 2^-12 rounding:
// 0.02-0.04 %; the same bounds apply, fp16 is the finer format). Any masking, indexing,
// rescaling or GQA bug gives O(1) errors (dropping the causal mask in dK/dV gave dk = 21).
// lse is fp32 end to end: <= 1e-4 absolute (observed 5e-7).
// What this cannot prove: the fragment layout of the real mma.sync instruction (emulate.h
// encodes the PTX ISA tables) and GPU memory behaviour; scripts/device/check_cuda.sh does.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '..', '..');
// Asynchronous on purpose: a compile or emulation blocking the worker for a minute makes vitest's
// worker RPC time out ("Timeout calling onTaskUpdate") even when every check passes.
const execFileAsync = promisify(execFile);

function cudaIncludeDir(): string {
  const candidates: string[] = [];
  if (process.env.CUDA_HOME) candidates.push(join(process.env.CUDA_HOME, 'include'));
  candidates.push('/usr/local/cuda/include');
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const nvcc = join(d, 'nvcc');
    if (d && existsSync(nvcc)) candidates.push(join(dirname(realpathSync(nvcc)), '..', 'include'));
  }
  const found = candidates.find((d) => existsSync(join(d, 'cuda_bf16.h')));
  if (!found) throw new Error(`the FA2 emulator needs the CUDA headers (cuda_bf16.h); looked in ${candidates.join(', ')}`);
  return found;
}

let dir = '';
let binary = '';
let opsBinary = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cuda-emu-'));
  const src = (...p: string[]) => join(repoRoot, ...p);
  const flags = ['-std=c++17', '-pthread', `-I${cudaIncludeDir()}`, `-I${src('native', 'src')}`];
  binary = join(dir, 'emulate_fa2');
  opsBinary = join(dir, 'emulate_ops');
  const cpu = ['rmsnorm', 'cross_entropy', 'swiglu', 'dropout', 'rope', 'embedding', 'elementwise', 'adamw'].map((f) => src('native', 'src', 'cpu', `${f}.cc`));
  // emulate_fa2 at -O1: its run time is thread switching in the kernel (barriers, warp exchanges),
  // the same at -O1 and -O2, while -O1 halves the compile of its 10 kernel instantiations.
  await Promise.all([  // the two compiles side by side (the machine has 2 cores)
    execFileAsync('g++', [...flags, '-O1', src('test', 'native', 'cuda_emulator', 'emulate_fa2.cc'), '-o', binary]),
    execFileAsync('g++', [...flags, '-O2', '-fopenmp', src('test', 'native', 'cuda_emulator', 'emulate_ops.cc'), ...cpu,
      src('native', 'src', 'memory.cc'), '-o', opsBinary]),
  ]);
}, 180_000);
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

interface Errors { out: number; lse_abs: number; dq: number; dk: number; dv: number }

async function run(D: number, causal: boolean, nh: number, nkv: number, lens: number[], dtype: 'bf16' | 'fp16' = 'bf16'): Promise<Errors> {
  const args = [dtype, ...[D, causal ? 1 : 0, nh, nkv, ...lens].map(String)];
  const { stdout } = await execFileAsync(binary, args, { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(stdout) as Errors;
}

function expectAccurate(e: Errors): void {
  expect(e.out).toBeLessThanOrEqual(1e-2);
  expect(e.lse_abs).toBeLessThanOrEqual(1e-4);
  expect(e.dq).toBeLessThanOrEqual(2e-2);
  expect(e.dk).toBeLessThanOrEqual(2e-2);
  expect(e.dv).toBeLessThanOrEqual(2e-2);
}

describe('the other CUDA kernels on the CPU emulator vs the CPU kernels', () => {
  // Tolerances (emulate_ops.cc): fp32 1e-5 of the max (summation order), bf16 2^-8 of the max
  // (one rounding step), sums and losses 1e-6 relative or tighter, copies and bit casts exact.
  it('rmsnorm, cross-entropy (ignore-index, V over 256 threads), swiglu, dropout, rope, embedding, add/scale, sum of squares, cast, AdamW', async () => {
    let out = '';
    try {
      out = (await execFileAsync(opsBinary, [], { encoding: 'utf8', timeout: 120_000 })).stdout;
    } catch (e) {  // a failed check exits non-zero: its JSON lines still say which
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    const checks = out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; err: number; tol: number; pass: boolean });
    expect(checks.length).toBe(45);
    expect(checks.filter((c) => !c.pass)).toEqual([]);
  }, 120_000);
});

describe('FlashAttention-2 kernels on the CPU emulator', () => {
  // Documents of 13 and 70 tokens: a partial tile, a tile boundary crossed, two documents packed.
  it('causal, GQA 4/2, head dim 64, ragged documents 13 + 70', async () => {
    expectAccurate(await run(64, true, 4, 2, [13, 70]));
  }, 120_000);

  it('not causal, GQA 2/1, head dim 128, documents 13 + 70', async () => {
    expectAccurate(await run(128, false, 2, 1, [13, 70]));
  }, 120_000);

  it('causal, GQA 3/1, head dim 96, documents 70 + 5', async () => {
    expectAccurate(await run(96, true, 3, 1, [70, 5]));
  }, 120_000);

  it('not causal, MHA 2/2, head dim 64, documents 65 + 1 (one-token document)', async () => {
    expectAccurate(await run(64, false, 2, 2, [65, 1]));
  }, 120_000);

  // Head dim 32 (the tiny model: hidden 128, 4 heads, 2 kv heads): two k-steps in Q K^T, four
  // n-tiles per output row, while P V and dS K still run four k-steps over the 64 keys.
  it('causal, GQA 4/2, head dim 32, ragged documents 70 + 1 + 13', async () => {
    expectAccurate(await run(32, true, 4, 2, [70, 1, 13]));
  }, 120_000);

  it('not causal, MHA 2/2, head dim 32, fp16, documents 65 + 13', async () => {
    expectAccurate(await run(32, false, 2, 2, [65, 13], 'fp16'));
  }, 120_000);
});
