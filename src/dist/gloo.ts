// Gloo (CPU) implementation of Communicator. Every collective is queued on the native comm
// thread of its group and runs there in submission order; sync calls submit and wait.
import { addon } from '../native/addon.js';
import { bufferFor, checkGroupRanks, checkNoOverlap, checkPair, checkReduceOp, checkRoot, Op, redOpCode } from './collective_args.js';
import { CommDType, type Buffer, type CollectiveOptions, type CommBuffer, type CommHandle, type Communicator,
  type ReduceOp } from './communicator.js';
import type { StoreClient } from './store.js';

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

  private submit(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, opts?: CollectiveOptions): CommHandle {
    if (this.id < 0) throw new Error(`communicator '${this.name}' was destroyed`);
    const timeout = opts?.timeoutMs ?? this.timeoutMs;
    return new NativeHandle(addon.commSubmit(this.id, op, dtype, redOpCode[red], input?.ptr ?? 0, output?.ptr ?? 0,
      count, root, timeout));
  }

  allReduceAsync(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const b = bufferFor('gloo', 'allReduce', 'buf', buf);
    checkReduceOp('allReduce', op, b.dtype);
    return this.submit(Op.AllReduce, b, b, b.numel, b.dtype, op, 0, opts);
  }
  allReduce(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }

  reduceScatterAsync(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const i = bufferFor('gloo', 'reduceScatter', 'input', input);
    const o = bufferFor('gloo', 'reduceScatter', 'output', output);
    checkPair('reduceScatter', i, o, o.numel * this.size, i.numel, this.size);
    checkReduceOp('reduceScatter', op, i.dtype);
    return this.submit(Op.ReduceScatter, i, o, o.numel, i.dtype, op, 0, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }

  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    const i = bufferFor('gloo', 'allGather', 'input', input);
    const o = bufferFor('gloo', 'allGather', 'output', output);
    checkPair('allGather', i, o, i.numel * this.size, o.numel, this.size);
    checkNoOverlap('allGather', i, o);
    return this.submit(Op.AllGather, i, o, i.numel, i.dtype, 'sum', 0, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }

  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    checkRoot('broadcast', root, this.size);
    const b = bufferFor('gloo', 'broadcast', 'buf', buf);
    return this.submit(Op.Broadcast, b, b, b.numel, b.dtype, 'sum', root, opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }

  barrier(opts?: CollectiveOptions): void {
    this.submit(Op.Barrier, null, null, 0, CommDType.F32, 'sum', 0, opts).wait();
  }

  newGroup(ranks: readonly number[]): Communicator | null {
    checkGroupRanks(ranks, this.size);
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
}
