// Gloo (CPU) implementation of Communicator. Every collective is queued on the native comm
// thread of its group and runs there in submission order; sync calls submit and wait.
import { addon } from '../native/addon.js';
import { commBuffer, commDTypeSize, type Buffer, type CollectiveOptions, type CommHandle, type Communicator,
  type ReduceOp, CommDType } from './communicator.js';
import type { StoreClient } from './store.js';

/** Values match native/src/comm/comm.h. */
enum Op {
  AllReduce = 0,
  ReduceScatter = 1,
  AllGather = 2,
  Broadcast = 3,
  Barrier = 4,
}
const redOpCode: Record<ReduceOp, number> = { sum: 0, avg: 1, max: 2 };

class NativeHandle implements CommHandle {
  private settled = false;
  constructor(private readonly work: number) {}
  wait(): void {
    if (this.settled) return;
    this.settled = true;
    addon.commWait(this.work);
  }
  waitAsync(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    return addon.commWaitAsync(this.work);
  }
  isDone(): boolean {
    return this.settled || addon.commIsDone(this.work);
  }
}

export class GlooCommunicator implements Communicator {
  readonly backend = 'gloo' as const;
  private id: number;
  private groups = 0;

  /** Rendezvous with the other members of `name` (blocking, up to `setupTimeoutMs`). */
  constructor(
    private readonly store: StoreClient | null,
    readonly name: string,
    readonly rank: number,
    readonly size: number,
    private readonly hostname: string,
    readonly timeoutMs: number,
    private readonly setupTimeoutMs: number,
  ) {
    this.id = addon.commCreate(store ? store.id : -1, name, rank, size, hostname, setupTimeoutMs);
  }

  private submit(op: Op, input: Buffer | null, output: Buffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, opts?: CollectiveOptions): CommHandle {
    if (this.id < 0) throw new Error(`communicator '${this.name}' was destroyed`);
    const timeout = opts?.timeoutMs ?? this.timeoutMs;
    const inPtr = input ? commBuffer(input).ptr : 0;
    const outPtr = output ? commBuffer(output).ptr : 0;
    return new NativeHandle(addon.commSubmit(this.id, op, dtype, redOpCode[red], inPtr, outPtr, count, root, timeout));
  }

  allReduceAsync(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const b = commBuffer(buf);
    if (op === 'avg' && b.dtype === CommDType.I32) throw new Error('allReduce: avg is not defined for int32');
    return this.submit(Op.AllReduce, b, b, b.numel, b.dtype, op, 0, opts);
  }
  allReduce(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }

  reduceScatterAsync(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const i = commBuffer(input);
    const o = commBuffer(output);
    this.checkPair('reduceScatter', i, o, o.numel * this.size, i.numel);
    if (op === 'avg' && i.dtype === CommDType.I32) throw new Error('reduceScatter: avg is not defined for int32');
    return this.submit(Op.ReduceScatter, i, o, o.numel, i.dtype, op, 0, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }

  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    const i = commBuffer(input);
    const o = commBuffer(output);
    this.checkPair('allGather', i, o, i.numel * this.size, o.numel);
    const bytes = i.numel * commDTypeSize[i.dtype];
    if (i.ptr < o.ptr + o.numel * commDTypeSize[o.dtype] && o.ptr < i.ptr + bytes) {
      throw new Error('allGather: input and output must not overlap');
    }
    return this.submit(Op.AllGather, i, o, i.numel, i.dtype, 'sum', 0, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }

  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    if (!Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new RangeError(`broadcast: root ${root} outside group of ${this.size}`);
    }
    const b = commBuffer(buf);
    return this.submit(Op.Broadcast, b, b, b.numel, b.dtype, 'sum', root, opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }

  barrier(opts?: CollectiveOptions): void {
    this.submit(Op.Barrier, null, null, 0, CommDType.F32, 'sum', 0, opts).wait();
  }

  newGroup(ranks: readonly number[]): Communicator | null {
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size) throw new RangeError(`newGroup: rank ${r} outside group of ${this.size}`);
      if (seen.has(r)) throw new Error(`newGroup: rank ${r} listed twice`);
      seen.add(r);
    }
    if (ranks.length === 0) throw new Error('newGroup: empty rank list');
    // Every member calls newGroup in the same order, so the counter names the group alike.
    const name = `${this.name}.${++this.groups}`;
    const index = ranks.indexOf(this.rank);
    if (index < 0) return null;
    return new GlooCommunicator(this.store, name, index, ranks.length, this.hostname, this.timeoutMs, this.setupTimeoutMs);
  }

  destroy(): void {
    if (this.id < 0) return;
    addon.commDestroy(this.id);
    this.id = -1;
  }

  private checkPair(op: string, i: { dtype: CommDType }, o: { dtype: CommDType }, expected: number, got: number): void {
    if (i.dtype !== o.dtype) throw new Error(`${op}: input and output dtypes differ`);
    if (expected !== got) {
      throw new RangeError(`${op}: ${got} elements where ${expected} are needed (group of ${this.size}; ` +
        'pad the flat buffer to a multiple of the group size, see paddedLength)');
    }
  }
}
