// A Communicator wrapper that counts the elements each collective moves, so tests (and
// users) can check ZeRO's communication volume: an all-reduce of n elements counts 2n (its
// reduce-scatter and all-gather halves), a reduce-scatter counts its input (count * size),
// an all-gather its output (count * size), a broadcast n.
import { commBuffer, type Buffer, type CollectiveOptions, type CommHandle, type Communicator, type ReduceOp } from './communicator.js';

export interface CommVolume {
  allReduce: number;
  reduceScatter: number;
  allGather: number;
  broadcast: number;
}

export class CountingCommunicator implements Communicator {
  readonly volume: CommVolume = { allReduce: 0, reduceScatter: 0, allGather: 0, broadcast: 0 };

  constructor(private readonly inner: Communicator) {}

  get backend(): Communicator['backend'] {
    return this.inner.backend;
  }
  get rank(): number {
    return this.inner.rank;
  }
  get size(): number {
    return this.inner.size;
  }
  get timeoutMs(): number {
    return this.inner.timeoutMs;
  }

  reset(): void {
    this.volume.allReduce = this.volume.reduceScatter = this.volume.allGather = this.volume.broadcast = 0;
  }

  allReduce(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void {
    this.allReduceAsync(buf, op, opts).wait();
  }
  allReduceAsync(buf: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle {
    this.volume.allReduce += 2 * commBuffer(buf).numel;
    return this.inner.allReduceAsync(buf, op, opts);
  }
  reduceScatter(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): void {
    this.reduceScatterAsync(input, output, op, opts).wait();
  }
  reduceScatterAsync(input: Buffer, output: Buffer, op?: ReduceOp, opts?: CollectiveOptions): CommHandle {
    this.volume.reduceScatter += commBuffer(input).numel;
    return this.inner.reduceScatterAsync(input, output, op, opts);
  }
  allGather(input: Buffer, output: Buffer, opts?: CollectiveOptions): void {
    this.allGatherAsync(input, output, opts).wait();
  }
  allGatherAsync(input: Buffer, output: Buffer, opts?: CollectiveOptions): CommHandle {
    this.volume.allGather += commBuffer(output).numel;
    return this.inner.allGatherAsync(input, output, opts);
  }
  broadcast(buf: Buffer, root: number, opts?: CollectiveOptions): void {
    this.broadcastAsync(buf, root, opts).wait();
  }
  broadcastAsync(buf: Buffer, root: number, opts?: CollectiveOptions): CommHandle {
    this.volume.broadcast += commBuffer(buf).numel;
    return this.inner.broadcastAsync(buf, root, opts);
  }
  barrier(opts?: CollectiveOptions): void {
    this.inner.barrier(opts);
  }
  newGroup(ranks: readonly number[]): Communicator | null {
    return this.inner.newGroup(ranks);
  }
  destroy(): void {
    this.inner.destroy();
  }
}
