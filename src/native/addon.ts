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
  linearForward(y: Address, x: Address, w: Address, b: Address | null, T: number, In: number, Out: number, dt: number): void;
  linearBackward(dx: Address | null, dw: Address, db: Address | null, dy: Address, x: Address, w: Address, T: number,
    In: number, Out: number, dt: number, gdt: number, accumulateDx: boolean): void;
  ropeForward(x: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  ropeBackward(dx: Address, pos: Address, cos: Address, sin: Address, T: number, nHeads: number, D: number,
    rowStride: number, dt: number): void;
  swigluForward(h: Address, gu: Address, T: number, F: number, dt: number): void;
  swigluBackward(dgu: Address, dh: Address, gu: Address, T: number, F: number, dt: number): void;
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
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/native -> repo root (also works from src/native under vitest).
const repoRoot = join(here, '..', '..');
const addonPath = join(repoRoot, 'build', 'native', 'Release', 'telechat_native.node');

function load(): NativeAddon {
  if (!existsSync(addonPath)) {
    throw new Error(`native addon not built: ${addonPath} is missing; run scripts/setup.sh (or npm run build:native)`);
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeAddon;
}

export const addon: NativeAddon = load();
