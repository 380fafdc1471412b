// The one collective interface the ZeRO engines use, whatever the backend (Gloo on CPU, NCCL
// on CUDA). Buffers are native memory (Tensor, or a raw CommBuffer for dtypes Tensor lacks).
//
// Padding contract for uneven lengths: reduceScatter takes `count * size` input elements and
// returns `count` (rank r gets elements [r*count, (r+1)*count)); allGather takes `count` and
// returns `count * size` in rank order. A caller whose flat buffer of N elements is not a
// multiple of the group size pads it to ceil(N / size) * size elements with zeros (neutral for
// sum and avg; for max pad with -inf or the type's minimum) and ignores the padded tail of the
// result; `paddedLength` computes that size. allReduce and broadcast take any length.
import type { Address } from '../native/addon.js';
import { DType, INT32, type Device, type Tensor } from '../native/tensor.js';

export type ReduceOp = 'sum' | 'avg' | 'max';

/** Element types on the wire; values match native/src/comm/comm.h. */
export enum CommDType {
  F32 = 0,
  BF16 = 1,
  F16 = 2,
  I32 = 3,
}

export const commDTypeSize: Record<CommDType, number> = {
  [CommDType.F32]: 4, [CommDType.BF16]: 2, [CommDType.F16]: 2, [CommDType.I32]: 4,
};

/**
 * A raw native buffer: `numel` elements of `dtype` at `ptr`. `device` says where the memory
 * lives when known (a Tensor's device); unset, the caller vouches that it suits the backend
 * (host memory for Gloo, device memory for NCCL).
 */
export interface CommBuffer {
  readonly ptr: Address;
  readonly numel: number;
  readonly dtype: CommDType;
  readonly device?: Device;
}

export type Buffer = Tensor | CommBuffer;

export function commBuffer(b: Buffer): CommBuffer {
  if ('type' in b) {
    const dtype = b.type === INT32 ? CommDType.I32 : b.type === DType.BF16 ? CommDType.BF16 : b.type === DType.F16 ? CommDType.F16 : CommDType.F32;
    return { ptr: b.ptr, numel: b.numel, dtype, device: b.device };
  }
  return b;
}

/** Smallest multiple of `groupSize` that holds `n` elements (the padding contract). */
export function paddedLength(n: number, groupSize: number): number {
  return Math.ceil(n / groupSize) * groupSize;
}

/** A collective in flight: the buffers must stay alive and untouched until it completes. */
export interface CommHandle {
  /** Blocks until done; throws the collective's error (naming the op and rank). */
  wait(): void;
  /** Resolves when done without blocking the event loop. */
  waitAsync(): Promise<void>;
  isDone(): boolean;
}

export interface CollectiveOptions {
  /** Per-collective timeout; defaults to the communicator's (30 min unless configured). */
  timeoutMs?: number;
}

export interface Communicator {
  readonly backend: 'gloo' | 'nccl';
  readonly rank: number;
  readonly size: number;
  readonly timeoutMs: number;

  /** In place: every rank's `buf` becomes the element-wise reduction over ranks. */
  allReduce(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void;
  allReduceAsync(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle;
  /** input: count*size elements; output: this rank's reduced count elements. */
  reduceScatter(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void;
  reduceScatterAsync(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle;
  /** input: count elements; output: count*size elements in rank order. */
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void;
  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle;
  /** `root`'s buffer is copied to every rank's buffer. */
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void;
  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle;
  barrier(opts?: CollectiveOptions): void;

  /**
   * A sub-group of the listed ranks (of this communicator), numbered in list order. Every
   * rank of this communicator must call it with the same list, in the same order of calls;
   * ranks outside the list get null.
   */
  newGroup(ranks: readonly number[]): Communicator | null;
  destroy(): void;
}
