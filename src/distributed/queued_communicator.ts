// The collectives of every native backend, written once: each call checks its arguments
// (collective_args.ts), then queues one native work item and returns its handle; the sync
// variants wait on it. Gloo (gloo.ts) and NCCL (nccl.ts) only say how a work item is queued,
// how a sub-group is joined and how the communicator is released.
import { bufferFor, checkGroupRanks, checkNoOverlap, checkPair, checkReduceOp, checkRoot, Op } from './collective_args.js';
import { CommDType, type Buffer, type CollectiveOptions, type CommBuffer, type CommHandle, type Communicator, type ReduceOp } from './communicator.js';

export abstract class QueuedCommunicator implements Communicator {
  abstract readonly backend: 'gloo' | 'nccl';
  abstract readonly name: string;
  abstract readonly rank: number;
  abstract readonly size: number;
  abstract readonly timeoutMs: number;
  private groups = 0;

  /** Queues one collective with checked arguments (null buffers for the barrier). */
  protected abstract enqueue(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, timeoutMs: number): CommHandle;
  /** This backend's communicator for the sub-group `name`, where this process has `rank` of `size`. */
  protected abstract joinGroup(name: string, rank: number, size: number): Communicator;
  abstract destroy(): void;

  private submit(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, opts?: CollectiveOptions): CommHandle {
    return this.enqueue(op, input, output, count, dtype, red, root, opts?.timeoutMs ?? this.timeoutMs);
  }

  allReduceAsync(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const b = bufferFor(this.backend, 'allReduce', 'buf', buf);
    checkReduceOp('allReduce', op, b.dtype);
    return this.submit(Op.AllReduce, b, b, b.numel, b.dtype, op, 0, opts);
  }
  allReduce(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }

  reduceScatterAsync(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const i = bufferFor(this.backend, 'reduceScatter', 'input', input);
    const o = bufferFor(this.backend, 'reduceScatter', 'output', output);
    checkPair('reduceScatter', i, o, o.numel * this.size, i.numel, this.size);
    checkReduceOp('reduceScatter', op, i.dtype);
    return this.submit(Op.ReduceScatter, i, o, o.numel, i.dtype, op, 0, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }

  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    const i = bufferFor(this.backend, 'allGather', 'input', input);
    const o = bufferFor(this.backend, 'allGather', 'output', output);
    checkPair('allGather', i, o, i.numel * this.size, o.numel, this.size);
    checkNoOverlap('allGather', i, o);
    return this.submit(Op.AllGather, i, o, i.numel, i.dtype, 'sum', 0, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }

  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    checkRoot('broadcast', root, this.size);
    const b = bufferFor(this.backend, 'broadcast', 'buf', buf);
    return this.submit(Op.Broadcast, b, b, b.numel, b.dtype, 'sum', root, opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }

  barrier(opts?: CollectiveOptions): void {
    this.submit(Op.Barrier, null, null, 0, CommDType.I32, 'sum', 0, opts).wait();
  }

  newGroup(ranks: readonly number[]): Communicator | null {
    checkGroupRanks(ranks, this.size);
    // Every member calls newGroup in the same order, so the counter names the group alike.
    const name = `${this.name}.${++this.groups}`;
    const index = ranks.indexOf(this.rank);
    if (index < 0) return null;
    return this.joinGroup(name, index, ranks.length);
  }
}
