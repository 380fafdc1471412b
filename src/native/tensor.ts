// Tensors are typed views (address, dtype, shape, device) over native buffers. Buffers are
// freed explicitly (Tensor.free or an Arena), never by the garbage collector. A 'cuda' tensor
// lives in GPU memory (native/src/cuda/allocator.cu, same categories); its reads and writes
// copy through the device synchronously, so the methods below work on either device.
import { addon, cudaAddon, type Address } from './addon.js';
import { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 } from './half.js';

/** Where a tensor's buffer lives. */
export type Device = 'cpu' | 'cuda';

export { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 };

/** Storage dtypes, matching native/src/cpu/dtype.h. */
export enum DType {
  F32 = 0,
  BF16 = 1,
  F16 = 2,
}

export const dtypeSize: Record<DType, number> = { [DType.F32]: 4, [DType.BF16]: 2, [DType.F16]: 2 };

export type DTypeName = 'fp32' | 'bf16' | 'fp16';

const DTYPE_NAMES: Record<DType, DTypeName> = { [DType.F32]: 'fp32', [DType.BF16]: 'bf16', [DType.F16]: 'fp16' };

export function dtypeName(dt: DType): DTypeName {
  return DTYPE_NAMES[dt];
}

/** Memory categories, matching native/src/memory.h. */
export enum MemCategory {
  Params = 0,
  Grads = 1,
  Master = 2,
  Optim = 3,
  Activations = 4,
  Buffers = 5,
  Scratch = 6,
}

/** Element type of integer index tensors (token ids, positions, cu_seqlens). */
export const INT32 = 'int32' as const;
export type ElementType = DType | typeof INT32;

function elementSize(t: ElementType): number {
  return t === INT32 ? 4 : dtypeSize[t];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export class Tensor {
  constructor(
    readonly ptr: Address,
    readonly type: ElementType,
    readonly shape: readonly number[],
    /** true when this tensor owns its buffer (created by alloc), false for views. */
    readonly owner: boolean,
    readonly device: Device = 'cpu',
  ) {}

  get numel(): number {
    return numel(this.shape);
  }

  get bytes(): number {
    return this.numel * elementSize(this.type);
  }

  /** Float dtype of this tensor; throws for int32 tensors. */
  get dtype(): DType {
    if (this.type === INT32) throw new Error('int32 tensor has no float dtype');
    return this.type;
  }

  /** A view of `shape` starting `elementOffset` elements into this tensor. */
  view(elementOffset: number, shape: readonly number[]): Tensor {
    if (elementOffset < 0 || elementOffset + numel(shape) > this.numel) {
      throw new RangeError(`view [${elementOffset}, +${numel(shape)}) outside tensor of ${this.numel} elements`);
    }
    return new Tensor(this.ptr + elementOffset * elementSize(this.type), this.type, shape, false, this.device);
  }

  /** The first rows of a row-major tensor (shape[0] replaced by `rows`). */
  rows(start: number, count: number): Tensor {
    const rowSize = numel(this.shape.slice(1));
    return this.view(start * rowSize, [count, ...this.shape.slice(1)]);
  }

  free(): void {
    if (!this.owner) throw new Error('free() on a view');
    if (this.device === 'cuda') cudaAddon().cudaFree(this.ptr);
    else addon.free(this.ptr);
  }

  /** Bytes of this tensor into `dst` (its byte length), from either device. */
  private copyOut(dst: ArrayBufferView): void {
    if (this.device === 'cuda') cudaAddon().cudaCopyOut(this.ptr, dst);
    else addon.copyOut(this.ptr, dst);
  }

  private copyIn(src: ArrayBufferView): void {
    if (this.device === 'cuda') cudaAddon().cudaCopyIn(this.ptr, src);
    else addon.copyIn(this.ptr, src);
  }

  /** Copies the contents out as fp32 (bf16 and fp16 widened exactly). */
  toFloat32(): Float32Array {
    if (this.type === INT32) throw new Error('toFloat32 on an int32 tensor');
    if (this.type === DType.F32) {
      const out = new Float32Array(this.numel);
      this.copyOut(out);
      return out;
    }
    const raw = new Uint16Array(this.numel);
    this.copyOut(raw);
    return this.type === DType.BF16 ? bf16ToFloat32(raw) : f16ToFloat32(raw);
  }

  toInt32(): Int32Array {
    if (this.type !== INT32) throw new Error('toInt32 on a float tensor');
    const out = new Int32Array(this.numel);
    this.copyOut(out);
    return out;
  }

  /** Writes fp32 values (rounded to nearest-even for bf16 and fp16; fp16 overflow gives +-inf). */
  writeFloat32(values: Float32Array): void {
    if (values.length !== this.numel) throw new RangeError(`write of ${values.length} values into ${this.numel}`);
    if (this.type === DType.F32) this.copyIn(values);
    else if (this.type === DType.BF16) this.copyIn(float32ToBf16(values));
    else if (this.type === DType.F16) this.copyIn(float32ToF16(values));
    else throw new Error('writeFloat32 on an int32 tensor');
  }

  writeInt32(values: Int32Array): void {
    if (this.type !== INT32) throw new Error('writeInt32 on a float tensor');
    if (values.length !== this.numel) throw new RangeError(`write of ${values.length} values into ${this.numel}`);
    this.copyIn(values);
  }

  /** Raw bytes in and out (for checkpoint I/O). */
  writeBytes(bytes: Uint8Array): void {
    if (bytes.length !== this.bytes) throw new RangeError(`write of ${bytes.length} bytes into ${this.bytes}`);
    this.copyIn(bytes);
  }

  readBytes(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    this.copyOut(out);
    return out;
  }
}

/** Allocates a zero-filled tensor counted under `category` on `device`. */
export function alloc(type: ElementType, shape: readonly number[], category: MemCategory, device: Device = 'cpu'): Tensor {
  const bytes = numel(shape) * elementSize(type);
  if (device === 'cuda') return new Tensor(cudaAddon().cudaAlloc(bytes, category), type, shape, true, 'cuda');
  return new Tensor(addon.alloc(bytes, category), type, shape, true);
}

export function fromFloat32(values: Float32Array, dt: DType, shape: readonly number[], category: MemCategory,
  device: Device = 'cpu'): Tensor {
  const t = alloc(dt, shape, category, device);
  t.writeFloat32(values);
  return t;
}

export function fromInt32(values: Int32Array | readonly number[], shape: readonly number[], category: MemCategory,
  device: Device = 'cpu'): Tensor {
  const t = alloc(INT32, shape, category, device);
  t.writeInt32(values instanceof Int32Array ? values : Int32Array.from(values));
  return t;
}

/** Owns a set of tensors and frees them together. */
export class Arena {
  private readonly owned: Tensor[] = [];

  constructor(readonly category: MemCategory, readonly device: Device = 'cpu') {}

  alloc(type: ElementType, shape: readonly number[]): Tensor {
    const t = alloc(type, shape, this.category, this.device);
    this.owned.push(t);
    return t;
  }

  freeAll(): void {
    for (const t of this.owned) t.free();
    this.owned.length = 0;
  }
}

export function memStats(): { current: Record<string, number>; peak: Record<string, number>; totalPeak: number } {
  return addon.memStats();
}

export function resetMemPeaks(): void {
  addon.memResetPeaks();
}

export function setNumThreads(n: number): void {
  addon.setNumThreads(n);
}
