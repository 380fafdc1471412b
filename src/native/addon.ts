// Loads the compiled addon (build/native/Release/telechat_native.node) and describes its
// raw surface. Addresses are plain numbers; src/native/tensor.ts and the kernel wrappers
// add dtype and shape checks on top. Nothing outside src/native calls this directly.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Address = number;

export interface MemStatsRaw {
  current: Record<string, number>;
  peak: Record<string, number>;
  totalCurrent: number;
  totalPeak: number;
}

export interface NativeAddon {
  // memory (native/src/bind/memory.cc)
  alloc(bytes: number, category: number): Address;
  free(ptr: Address): void;
  copyIn(ptr: Address, src: ArrayBufferView): void;
  copyOut(ptr: Address, dst: ArrayBufferView): void;
  copy(dst: Address, src: Address, bytes: number): void;
  memStats(): MemStatsRaw;
  memResetPeaks(): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  buildInfo(): { cuda: boolean; cudaDevices: number };

  // CPU kernels (native/src/bind/cpu_ops.cc); argument order mirrors native/src/cpu/ops.h.
  fillZero(x: Address, n: number, dt: number): void;
  cast(dst: Address, dstDt: number, src: Address, srcDt: number, n: number): void;
  add(y: Address, a: Address, b: Address, n: number, dt: number): void;
  scaleInplace(x: Address, s: number, n: number, dt: number): void;
  sumSquares(x: Address, n: number, dt: number): number;
  hasNonfinite(x: Address, n: number, dt: number): boolean;
  embeddingForward(out: Address, ids: Address, table: Address, T: number, C: number, V: number, dt: number): number;
  embeddingBackward(dtable: Address, ids: Address, dout: Address, T: number, C: number, dt: number, gdt: number): void;
  rmsnormForward(y: Address, rstd: Address, x: Address, w: Address, T: number, C: number, eps: number, dt: number): void;
  rmsnormBackward(dx: Address, dw: Address, dy: Address, x: Address, w: Address, rstd: Address, T: number, C: number,
    dt: number, gdt: number): void;
  /** What bf16 linear products run on: "onednn <impl> (<isa>)" or "fallback: <why>" (cpu/gemm_bf16.h). */
  cpuBf16GemmPath(): string;
  /** What attention tiles run on, in words (cpu/attention_tiles.h). */
  cpuAttentionTilePath(): string;
  /** What LoRA adapter products run on, in words (cpu/lora_tiles.h). */
  cpuLoraTilePath(): string;
  /** OpenBLAS core name and build configuration (what fp32 products run on). */
  cpuBlasCore(): { core: string; config: string };
  linearForward(y: Address, x: Address, w: Address, b: Address | null, T: number, In: number, Out: number, dt: number, accumulate: boolean): void;
  linearBackward(dx: Address | null, dw: Address | null, db: Address | null, dy: Address, x: Address, w: Address, T: number,
    In: number, Out: number, dt: number, gdt: number, accumulateDx: boolean): void;
  loraForward(y: Address | null, u: Address, x: Address, a: Address, b: Address, T: number, In: number, R: number, Out: number, width: number,
    col0: number, scale: number, dt: number, accumulate: boolean): void;
  loraBackward(dx: Address | null, ga: Address, gb: Address, dy: Address, x: Address, u: Address, a: Address, b: Address, T: number,
    In: number, R: number, Out: number, width: number, col0: number, scale: number, dt: number, gdt: number, accumulateDx: boolean): void;
  ropeForward(x: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  ropeBackward(dx: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  swigluForward(h: Address, gu: Address, T: number, F: number, dt: number): void;
  swigluBackward(dgu: Address, dh: Address, gu: Address, T: number, F: number, dt: number): void;
  dropoutAddForward(out: Address, resid: Address, h: Address, tokens: Address, keyHi: number, keyLo: number, threshold: number,
    scale: number, T: number, C: number, dt: number): void;
  dropoutBackward(dh: Address, dy: Address, tokens: Address, keyHi: number, keyLo: number, threshold: number, scale: number,
    T: number, C: number, dt: number): void;
  // Returns [lossSum, count, badRow] (badRow -1 when every target is valid).
  crossEntropy(logits: Address, targets: Address, T: number, V: number, logitScale: number, gradScale: number,
    writeGrad: boolean, dt: number): [number, number, number];

  // CPU optimizer (native/src/bind/cpu_optim.cc)
  adamwStep(master: Address, paramCopy: Address | null, paramDt: number, grad: Address, gradDt: number, m: Address, v: Address,
    n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, gradScale: number,
    adamWMode: boolean): void;

  // CPU attention (native/src/bind/cpu_attention.cc)
  attentionForward(out: Address, lse: Address, qkv: Address, cuSeqlens: Address, numDocs: number, T: number,
    nh: number, nkv: number, D: number, scale: number, dt: number): void;
  attentionBackward(dqkv: Address, dout: Address, out: Address, lse: Address, qkv: Address, cuSeqlens: Address,
    numDocs: number, T: number, nh: number, nkv: number, D: number, scale: number, dt: number): void;

  // SentencePiece tokenizer (native/src/bind/tokenizer.cc); models are integer handles.
  spLoad(path: string): number;
  spFree(handle: number): void;
  spEncode(handle: number, text: string): Int32Array;
  // offsets has texts.length + 1 entries: text i is ids[offsets[i] .. offsets[i+1]).
  spEncodeBatch(handle: number, texts: string[]): { ids: Int32Array; offsets: Float64Array };
  // Texts as one UTF-8 buffer + byte offsets (n+1), encoded on a worker thread (the model must
  // stay loaded until it settles); text i is ids[offsets[i] .. offsets[i+1]).
  spEncodeUtf8Async(handle: number, utf8: Uint8Array, byteOffsets: Int32Array): Promise<{ ids: Int32Array; offsets: Int32Array }>;
  spDecode(handle: number, ids: Int32Array): string;
  spVocabSize(handle: number): number;
  spPieceToId(handle: number, piece: string): number;
  spPieceInfo(handle: number, id: number): { piece: string; unknown: boolean; control: boolean; byte: boolean };

  // Rendezvous store and communicators (native/src/bind/comm.cc); ids are small integers.
  storeServerStart(port: number, worldSize: number, secret: string): void;
  storeServerStop(): void;
  storeServerRefused(): number;
  storeConnect(host: string, port: number, secret: string, rank: number, worldSize: number, timeoutMs: number): number;
  storeClose(store: number): void;
  storeSet(store: number, key: string, value: Uint8Array): void;
  storeGet(store: number, key: string, timeoutMs: number): Uint8Array;
  storeAdd(store: number, key: string, delta: number): number;
  storeWait(store: number, keys: string[], timeoutMs: number): void;
  storeBarrier(store: number, name: string, worldSize: number, timeoutMs: number): void;
  storeLocalAddress(store: number): string;
  /** store -1: none (only for a group of size 1). */
  commCreate(store: number, group: string, rank: number, size: number, hostname: string, timeoutMs: number): number;
  commDestroy(comm: number): void;
  commSubmit(comm: number, op: number, dtype: number, redOp: number, input: Address, output: Address, count: number,
    root: number, timeoutMs: number): number;
  commWait(work: number): void;
  commWaitAsync(work: number): Promise<void>;
  commIsDone(work: number): boolean;
  ncclProbe(): { path: string; version: number };

  // cuBLAS loader (native/src/cuda/cublas_loader.cc, always built): candidate paths in search
  // order, and a load that throws listing them when none works. version = major*10000+minor*100+patch.
  cublasSearchPaths(): string[];
  cublasProbe(): { path: string; version: number };
}

export interface CudaMemStatsRaw extends MemStatsRaw {
  /** bytes held from cudaMalloc (live + cached) and bytes sitting in the cache */
  reserved: number;
  cached: number;
}

/** Present only when the addon was built with nvcc (buildInfo().cuda); native/src/bind/cuda_ops.cc.
 *  Addresses are device pointers; dtype codes 0 fp32, 1 bf16, 2 fp16. Argument order mirrors
 *  native/src/cuda/api.h (and the CPU functions of the same name). */
export interface CudaFunctions {
  cudaSetDevice(device: number): void;
  cudaSynchronize(): void;
  cudaAddF32(y: Address, a: Address, b: Address, n: number): void;
  cudaAlloc(bytes: number, category: number): Address;
  cudaFree(ptr: Address): void;
  cudaCopyIn(ptr: Address, src: ArrayBufferView): void;
  cudaCopyOut(ptr: Address, dst: ArrayBufferView): void;
  cudaCopy(dst: Address, src: Address, bytes: number): void;
  cudaMemStats(): CudaMemStatsRaw;
  cudaMemResetPeaks(): void;
  cudaEmptyCache(): void;
  cudaFillZero(x: Address, n: number, dt: number): void;
  cudaCast(dst: Address, dstDt: number, src: Address, srcDt: number, n: number): void;
  cudaAdd(y: Address, a: Address, b: Address, n: number, dt: number): void;
  cudaScaleInplace(x: Address, s: number, n: number, dt: number): void;
  cudaSumSquares(x: Address, n: number, dt: number): number;
  cudaEmbeddingForward(out: Address, ids: Address, table: Address, T: number, C: number, V: number, dt: number): number;
  cudaEmbeddingBackward(dtable: Address, ids: Address, dout: Address, T: number, C: number, dt: number, gdt: number): void;
  cudaRmsnormForward(y: Address, rstd: Address, x: Address, w: Address, T: number, C: number, eps: number, dt: number): void;
  cudaRmsnormBackward(dx: Address, dw: Address, dy: Address, x: Address, w: Address, rstd: Address, T: number, C: number,
    dt: number, gdt: number): void;
  cudaLinearForward(y: Address, x: Address, w: Address, b: Address | null, T: number, In: number, Out: number, dt: number, accumulate: boolean): void;
  cudaLinearBackward(dx: Address | null, dw: Address | null, db: Address | null, dy: Address, x: Address, w: Address, T: number,
    In: number, Out: number, dt: number, gdt: number, accumulateDx: boolean): void;
  cudaLoraForward(y: Address | null, u: Address, x: Address, a: Address, b: Address, T: number, In: number, R: number, Out: number, width: number,
    col0: number, scale: number, dt: number, accumulate: boolean): void;
  cudaLoraBackward(dx: Address | null, ga: Address, gb: Address, dy: Address, x: Address, u: Address, a: Address, b: Address, T: number,
    In: number, R: number, Out: number, width: number, col0: number, scale: number, dt: number, gdt: number, accumulateDx: boolean): void;
  cudaRopeForward(x: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  cudaRopeBackward(dx: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  cudaSwigluForward(h: Address, gu: Address, T: number, F: number, dt: number): void;
  cudaSwigluBackward(dgu: Address, dh: Address, gu: Address, T: number, F: number, dt: number): void;
  cudaDropoutAddForward(out: Address, resid: Address, h: Address, tokens: Address, keyHi: number, keyLo: number,
    threshold: number, scale: number, T: number, C: number, dt: number): void;
  cudaDropoutBackward(dh: Address, dy: Address, tokens: Address, keyHi: number, keyLo: number, threshold: number,
    scale: number, T: number, C: number, dt: number): void;
  cudaCrossEntropy(logits: Address, targets: Address, T: number, V: number, logitScale: number, gradScale: number,
    writeGrad: boolean, dt: number): [number, number, number];
  cudaAdamwStep(master: Address, paramCopy: Address | null, paramDt: number, grad: Address, gradDt: number, m: Address,
    v: Address, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
    gradScale: number, adamWMode: boolean): void;
  cudaAttentionForward(out: Address, lse: Address, qkv: Address, cuSeqlens: Address, numDocs: number, maxSeqlen: number,
    T: number, nh: number, nkv: number, D: number, scale: number, causal: boolean, dt: number): void;
  cudaAttentionBackward(dqkv: Address, dout: Address, out: Address, lse: Address, qkv: Address, cuSeqlens: Address,
    numDocs: number, maxSeqlen: number, T: number, nh: number, nkv: number, D: number, scale: number, causal: boolean,
    dt: number): void;
  cudaAttentionSupported(D: number, dt: number): boolean;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/native -> repo root (also works from src/native under vitest).
const repoRoot = join(here, '..', '..');
export const addonPath = join(repoRoot, 'build', 'native', 'Release', 'telechat_native.node');

function load(): NativeAddon {
  if (!existsSync(addonPath)) {
    throw new Error(`native addon not built: ${addonPath} is missing; run scripts/setup.sh (or npm run build:native)`);
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeAddon;
}

export const addon: NativeAddon = load();

/** Every name of CudaFunctions (the compiler checks the list is complete), for tests and checks. */
const cudaFunctionSet: Record<keyof CudaFunctions, true> = {
  cudaSetDevice: true, cudaSynchronize: true, cudaAddF32: true, cudaAlloc: true, cudaFree: true, cudaCopyIn: true,
  cudaCopyOut: true, cudaCopy: true, cudaMemStats: true, cudaMemResetPeaks: true, cudaEmptyCache: true,
  cudaFillZero: true, cudaCast: true, cudaAdd: true, cudaScaleInplace: true, cudaSumSquares: true,
  cudaEmbeddingForward: true, cudaEmbeddingBackward: true, cudaRmsnormForward: true, cudaRmsnormBackward: true,
  cudaLinearForward: true, cudaLinearBackward: true, cudaLoraForward: true, cudaLoraBackward: true, cudaRopeForward: true, cudaRopeBackward: true,
  cudaSwigluForward: true, cudaSwigluBackward: true, cudaDropoutAddForward: true, cudaDropoutBackward: true, cudaCrossEntropy: true, cudaAdamwStep: true,
  cudaAttentionForward: true, cudaAttentionBackward: true, cudaAttentionSupported: true,
};
export const CUDA_FUNCTION_NAMES = Object.keys(cudaFunctionSet) as readonly (keyof CudaFunctions)[];

let cudaStandIn: CudaFunctions | null = null;

/**
 * Makes cudaAddon() return `fns` (null restores the addon's). A stand-in runtime over host
 * memory (test/helpers/host_cuda.ts) runs the whole device code path - device tensors, the
 * cuda backend, the engine - where no GPU exists; the real kernels are checked on a GPU.
 */
export function useCudaFunctions(fns: CudaFunctions | null): void {
  cudaStandIn = fns;
}

/** The CUDA functions of the addon (or the stand-in); throws when it was built without nvcc. */
export function cudaAddon(): CudaFunctions {
  if (cudaStandIn) return cudaStandIn;
  const a = addon as NativeAddon & Partial<CudaFunctions>;
  if (typeof a.cudaAlloc !== 'function') {
    throw new Error('this build has no CUDA backend (nvcc was not found when the addon was built; see docs/cuda.md)');
  }
  return a as NativeAddon & CudaFunctions;
}

// ---- NCCL communicator (native/src/bind/nccl.cc; src/distributed/nccl.ts wraps it) ----
// ncclProbe (in NativeAddon above) is always present; these only in builds with the CUDA backend.
// Ids are small integers; addresses are device pointers; codes are those of native/src/comm/comm.h.
export interface NcclFunctions {
  /** store -1: none (a group of size 1 creates its unique id locally). Makes no CUDA call. */
  ncclCommCreate(store: number, group: string, rank: number, size: number, setupTimeoutMs: number): number;
  /** Drops the communicator; ncclCommDestroy runs once no pending collective holds it. */
  ncclCommDestroy(comm: number): void;
  /** Enqueues on the communicator's stream after the work queued so far on the legacy stream. */
  ncclCommSubmit(comm: number, op: number, dtype: number, redOp: number, input: Address, output: Address, count: number,
    root: number, timeoutMs: number): number;
  /** Blocks until complete or the timeout (then aborts and throws); releases the work. */
  ncclWorkWait(work: number): void;
  /** One step of ncclWorkWait: true when complete (released); throws like it. */
  ncclWorkPoll(work: number): boolean;
  ncclWorkIsDone(work: number): boolean;
}

const ncclFunctionSet: Record<keyof NcclFunctions, true> = {
  ncclCommCreate: true, ncclCommDestroy: true, ncclCommSubmit: true, ncclWorkWait: true, ncclWorkPoll: true,
  ncclWorkIsDone: true,
};
export const NCCL_FUNCTION_NAMES = Object.keys(ncclFunctionSet) as readonly (keyof NcclFunctions)[];

/** The NCCL communicator functions of the addon; throws when it was built without nvcc. */
export function ncclAddon(): NcclFunctions {
  const a = addon as NativeAddon & Partial<NcclFunctions>;
  if (typeof a.ncclCommCreate !== 'function') {
    throw new Error('this build has no NCCL communicator: it needs the CUDA backend (nvcc was not found when the addon was built; see docs/cuda.md)');
  }
  return a as NativeAddon & NcclFunctions;
}
