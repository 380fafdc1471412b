// Gloo (CPU) implementation of Communicator. Every collective is queued on the native comm
// thread of its group and runs there in submission order; sync calls submit and wait.
import { addon } from '../native/addon.js';
import { Op, redOpCode } from './collective_args.js';
import type { CommBuffer, CommDType, CommHandle, Communicator, ReduceOp } from './communicator.js';
import { QueuedCommunicator } from './queued_communicator.js';
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

export class GlooCommunicator extends QueuedCommunicator {
  readonly backend = 'gloo' as const;
  private id: number;

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
    super();
    this.id = addon.commCreate(store ? store.id : -1, name, rank, size, hostname, setupTimeoutMs);
  }

  protected enqueue(op: Op, input: CommBuffer | null, output: CommBuffer | null, count: number, dtype: CommDType,
    red: ReduceOp, root: number, timeoutMs: number): CommHandle {
    if (this.id < 0) throw new Error(`communicator '${this.name}' was destroyed`);
    return new NativeHandle(addon.commSubmit(this.id, op, dtype, redOpCode[red], input?.ptr ?? 0, output?.ptr ?? 0, count, root, timeoutMs));
  }

  protected joinGroup(name: string, rank: number, size: number): Communicator {
    return new GlooCommunicator(this.store, name, rank, size, this.hostname, this.timeoutMs, this.setupTimeoutMs);
  }

  destroy(): void {
    if (this.id < 0) return;
    addon.commDestroy(this.id);
    this.id = -1;
  }
}
