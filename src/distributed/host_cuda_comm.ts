// The communicator of the stand-in CUDA runtime (src/native/host_cuda.ts): it plays NCCL's
// part - collectives on device buffers - by translating each buffer to its host address and
// running the Gloo collective there. Host buffers are refused, as NCCL would fail on them.
import type { HostCuda } from '../native/host_cuda.js';
import { commBuffer, type Buffer, type CollectiveOptions, type CommBuffer, type CommHandle, type Communicator, type ReduceOp } from './communicator.js';

export class HostCudaCommunicator implements Communicator {
  readonly backend = 'nccl' as const;

  constructor(
    private readonly inner: Communicator,
    private readonly cuda: HostCuda,
  ) {}

  get rank(): number {
    return this.inner.rank;
  }

  get size(): number {
    return this.inner.size;
  }

  get timeoutMs(): number {
    return this.inner.timeoutMs;
  }

  private onHost(op: string, b: Buffer): CommBuffer {
    if ('device' in b && b.device !== 'cuda') throw new Error(`${op}: a ${b.device} tensor; this communicator works on cuda buffers`);
    const c = commBuffer(b);
    return { ptr: this.cuda.hostAddress(c.ptr), numel: c.numel, dtype: c.dtype };
  }

  allReduce(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }
  allReduceAsync(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle {
    return this.inner.allReduceAsync(this.onHost('allReduce', buf), op, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }
  reduceScatterAsync(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle {
    return this.inner.reduceScatterAsync(this.onHost('reduceScatter', input), this.onHost('reduceScatter', output), op, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }
  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    return this.inner.allGatherAsync(this.onHost('allGather', input), this.onHost('allGather', output), opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }
  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    return this.inner.broadcastAsync(this.onHost('broadcast', buf), root, opts);
  }
  barrier(opts?: CollectiveOptions): void {
    this.inner.barrier(opts);
  }
  newGroup(ranks: readonly number[]): Communicator | null {
    const g = this.inner.newGroup(ranks);
    return g ? new HostCudaCommunicator(g, this.cuda) : null;
  }
  destroy(): void {
    this.inner.destroy();
  }
}
