// NCCL (CUDA) implementation of Communicator: collectives on device buffers, enqueued on a
// stream the communicator owns, ordered after the compute queued so far on the legacy default
// stream (native/src/comm/nccl_async.h). Async calls return at once and their handle's wait
// makes later compute wait for the result. The collectives and their argument rules are
// shared with Gloo (queued_communicator.ts); NCCL buffers must be device memory.
import { addon, ncclAddon, type NcclFunctions } from '../native/addon.js';
import { Op, redOpCode } from './collective_args.js';
import type { CommBuffer, CommDType, CommHandle, Communicator, ReduceOp } from './communicator.js';
import { QueuedCommunicator } from './queued_communicator.js';
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

export class NcclCommunicator extends QueuedCommunicator {
  readonly backend = 'nccl' as const;
  private readonly n: NcclFunctions;
  private id: number;

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
    super();
    this.n = functions ?? ncclAddon();
    this.id = this.n.ncclCommCreate(store ? store.id : -1, name, rank, size, setupTimeoutMs);
  }

  protected enqueue(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, timeoutMs: number): CommHandle {
    if (this.id < 0) throw new Error(`communicator '${this.name}' was destroyed`);
    return new NcclHandle(this.n, this.n.ncclCommSubmit(this.id, op, dtype, redOpCode[red], input?.ptr ?? 0, output?.ptr ?? 0, count, root, timeoutMs));
  }

  /** A new NCCL communicator whose unique id travels under the group's name ("<name>.<k>"). */
  protected joinGroup(name: string, rank: number, size: number): Communicator {
    if (size > 1 && !this.store) throw new Error(`newGroup: a group of ${size} ranks needs the rendezvous store`);
    return new NcclCommunicator(this.store, name, rank, size, this.timeoutMs, this.setupTimeoutMs, this.n);
  }

  destroy(): void {
    if (this.id < 0) return;
    this.n.ncclCommDestroy(this.id);
    this.id = -1;
  }
}
