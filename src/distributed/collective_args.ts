// Argument rules every Communicator backend applies before it submits a collective (Gloo and
// NCCL alike), and the op / reduce-op codes of native/src/comm/comm.h. Each check throws one
// error naming the collective and what is wrong.
import type { Device } from '../native/tensor.js';
import { commBuffer, commDTypeSize, CommDType, type Buffer, type CommBuffer, type ReduceOp } from './communicator.js';

/** Values match native/src/comm/comm.h. */
export enum Op {
  AllReduce = 0,
  ReduceScatter = 1,
  AllGather = 2,
  Broadcast = 3,
  Barrier = 4,
}
export const redOpCode: Record<ReduceOp, number> = { sum: 0, avg: 1, max: 2 };

const backendDevice: Record<'gloo' | 'nccl', Device> = { gloo: 'cpu', nccl: 'cuda' };

/**
 * `buf` as a CommBuffer, refused when its memory is known to live on the wrong device for the
 * backend (Gloo reads host memory, NCCL device memory).
 */
export function bufferFor(backend: 'gloo' | 'nccl', op: string, role: string, buf: Buffer): CommBuffer {
  const b = commBuffer(buf);
  const want = backendDevice[backend];
  if (b.device !== undefined && b.device !== want) {
    const hint = backend === 'nccl' ? 'the NCCL communicator needs CUDA device buffers (use Gloo for host memory)'
      : 'the Gloo communicator needs host buffers (use NCCL for CUDA memory)';
    throw new Error(`${op}: ${role} is a ${b.device} buffer; ${hint}`);
  }
  return b;
}

/** avg has no meaning for int32 (no exact division). */
export function checkReduceOp(op: string, red: ReduceOp, dtype: CommDType): void {
  if (red === 'avg' && dtype === CommDType.I32) throw new Error(`${op}: avg is not defined for int32`);
}

/** Input and output of reduceScatter / allGather: same dtype, lengths per the padding contract. */
export function checkPair(op: string, i: CommBuffer, o: CommBuffer, expected: number, got: number, groupSize: number): void {
  if (i.dtype !== o.dtype) throw new Error(`${op}: input and output dtypes differ`);
  if (expected !== got) {
    throw new RangeError(`${op}: ${got} elements where ${expected} are needed (group of ${groupSize}; ` +
      'pad the flat buffer to a multiple of the group size, see paddedLength)');
  }
}

export function checkNoOverlap(op: string, i: CommBuffer, o: CommBuffer): void {
  const iEnd = i.ptr + i.numel * commDTypeSize[i.dtype];
  const oEnd = o.ptr + o.numel * commDTypeSize[o.dtype];
  if (i.ptr < oEnd && o.ptr < iEnd) throw new Error(`${op}: input and output must not overlap`);
}

export function checkRoot(op: string, root: number, groupSize: number): void {
  if (!Number.isInteger(root) || root < 0 || root >= groupSize) {
    throw new RangeError(`${op}: root ${root} outside group of ${groupSize}`);
  }
}

/** newGroup's rank list: non-empty, distinct ranks of the parent group. */
export function checkGroupRanks(ranks: readonly number[], groupSize: number): void {
  const seen = new Set<number>();
  for (const r of ranks) {
    if (!Number.isInteger(r) || r < 0 || r >= groupSize) throw new RangeError(`newGroup: rank ${r} outside group of ${groupSize}`);
    if (seen.has(r)) throw new Error(`newGroup: rank ${r} listed twice`);
    seen.add(r);
  }
  if (ranks.length === 0) throw new Error('newGroup: empty rank list');
}
