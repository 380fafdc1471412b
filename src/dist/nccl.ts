// NCCL (CUDA) implementation of Communicator: collectives on device buffers, enqueued on a
// stream the communicator owns, ordered after the compute queued so far on the legacy default
// stream (native/src/comm/nccl_async.h). Sync calls submit and wait; async calls return at once
// and their handle's wait makes later compute wait for the result. Argument rules are Gloo's
// (collective_args.ts), plus: buffers must be device memory.
import { addon, ncclAddon, type NcclFunctions } from '../native/addon.js';
import { bufferFor, checkGroupRanks, checkNoOverlap, checkPair, checkReduceOp, checkRoot, Op, redOpCode } from './collective_args.js';
import { CommDType, type Buffer, type CollectiveOptions, type CommBuffer, type CommHandle, type Communicator,
  type ReduceOp } from './communicator.js';
import type { StoreClient } from './store.js';

/** Loads libnccl.so.2 (dlopen) and reports where it came from, or throws "NCCL not found, looked in: ...". */
export function ncclInfo(): { path: string; version: number } {
  return addon.ncclProbe();
}

/** Polls `step` from the event loop until it returns true or throws; never blocks the loop. */
function pollUntilDone(step: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let polls = 0;
    const tick = (): void => {
      try {
        if (step()) return resolve();
      } catch (e) {
        return reject(e instanceof Error ? e : new Error(String(e)));
      }
      // Back-to-back polls for a short collective, then 1 ms apart so a long one costs no CPU.
      if (++polls < 32) setImmediate(tick);
      else setTimeout(tick, 1);
    };
    tick();
  });
}

class NcclHandle implements CommHandle {
  private claimed = false;  // a wait or waitAsync has taken the native work
  private finished = false;
  constructor(private readonly n: NcclFunctions, private readonly work: number) {}
  // A second wait returns at once, as with Gloo. While a waitAsync is still polling, the legacy
  // stream already waits on the result (its first poll ordered it), so later kernels and copies
  // to the host see the result even then.
  wait(): void {
    if (this.claimed) return;
    this.claimed = true;
    this.n.ncclWorkWait(this.work);
    this.finished = true;
  }
  waitAsync(): Promise<void> {
    if (this.claimed) return Promise.resolve();
    this.claimed = true;
    return pollUntilDone(() => (this.finished = this.n.ncclWorkPoll(this.work)));
  }
  isDone(): boolean {
    if (this.finished) return true;
    try {
      return this.n.ncclWorkIsDone(this.work);
    } catch (e) {
      if (this.claimed) return true;  // released by a wait that failed: settled, with its error
      throw e;
    }
  }
}

export class NcclCommunicator implements Communicator {
  readonly backend = 'nccl' as const;
  private readonly n: NcclFunctions;
  private id: number;
  private groups = 0;

  /**
   * Joins the NCCL group `name`: its rank 0 publishes the unique id in the store, the others read
   * it (up to `setupTimeoutMs`). A group of size 1 needs no store. The CUDA device must already be
   * selected (selectCudaDevice); the communicator is bound to it. `functions` defaults to the
   * addon's (tests pass a recorder to check the calls without a GPU).
   */
  constructor(
    private readonly store: StoreClient | null,
    readonly name: string,
    readonly rank: number,
    readonly size: number,
    readonly timeoutMs: number,
    private readonly setupTimeoutMs: number,
    functions?: NcclFunctions,
  ) {
    this.n = functions ?? ncclAddon();
    this.id = this.n.ncclCommCreate(store ? store.id : -1, name, rank, size, setupTimeoutMs);
  }

  private submit(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, opts?: CollectiveOptions): CommHandle {
    if (this.id < 0) throw new Error(`communicator '${this.name}' was destroyed`);
    const timeout = opts?.timeoutMs ?? this.timeoutMs;
    return new NcclHandle(this.n, this.n.ncclCommSubmit(this.id, op, dtype, redOpCode[red], input?.ptr ?? 0,
      output?.ptr ?? 0, count, root, timeout));
  }

  allReduceAsync(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const b = bufferFor('nccl', 'allReduce', 'buf', buf);
    checkReduceOp('allReduce', op, b.dtype);
    return this.submit(Op.AllReduce, b, b, b.numel, b.dtype, op, 0, opts);
  }
  allReduce(buf: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }

  reduceScatterAsync(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): CommHandle {
    const i = bufferFor('nccl', 'reduceScatter', 'input', input);
    const o = bufferFor('nccl', 'reduceScatter', 'output', output);
    checkPair('reduceScatter', i, o, o.numel * this.size, i.numel, this.size);
    checkReduceOp('reduceScatter', op, i.dtype);
    return this.submit(Op.ReduceScatter, i, o, o.numel, i.dtype, op, 0, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op: ReduceOp = 'sum', opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }

  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    const i = bufferFor('nccl', 'allGather', 'input', input);
    const o = bufferFor('nccl', 'allGather', 'output', output);
    checkPair('allGather', i, o, i.numel * this.size, o.numel, this.size);
    checkNoOverlap('allGather', i, o);
    return this.submit(Op.AllGather, i, o, i.numel, i.dtype, 'sum', 0, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }

  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    checkRoot('broadcast', root, this.size);
    const b = bufferFor('nccl', 'broadcast', 'buf', buf);
    return this.submit(Op.Broadcast, b, b, b.numel, b.dtype, 'sum', root, opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }

  barrier(opts?: CollectiveOptions): void {
    this.submit(Op.Barrier, null, null, 0, CommDType.I32, 'sum', 0, opts).wait();
  }

  /** A new NCCL communicator whose unique id travels under the group's name ("<name>.<k>"). */
  newGroup(ranks: readonly number[]): Communicator | null {
    checkGroupRanks(ranks, this.size);
    // Every member calls newGroup in the same order, so the counter names the group alike.
    const name = `${this.name}.${++this.groups}`;
    const index = ranks.indexOf(this.rank);
    if (index < 0) return null;
    if (ranks.length > 1 && !this.store) throw new Error(`newGroup: a group of ${ranks.length} ranks needs the rendezvous store`);
    return new NcclCommunicator(this.store, name, index, ranks.length, this.timeoutMs, this.setupTimeoutMs, this.n);
  }

  destroy(): void {
    if (this.id < 0) return;
    this.n.ncclCommDestroy(this.id);
    this.id = -1;
  }
}
