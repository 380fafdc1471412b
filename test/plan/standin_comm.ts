// One process as rank 0 of N ranks that hold the same data: every collective completes
// locally (test/plan/allocator.test.ts and offload.test.ts).
import type { Buffer, CommHandle, Communicator } from '../../src/distributed/communicator.js';
import type { Backend } from '../../src/native/backend.js';
import type { Tensor } from '../../src/native/tensor.js';

// never reported done before it is waited for: the engine then keeps as many reductions in
// flight as it allows (the planner's worst case, as on a slow network)
const pending: CommHandle = { wait: () => {}, waitAsync: async () => {}, isDone: () => false };

export class StandInCommunicator implements Communicator {
  readonly backend = 'gloo' as const;
  readonly rank = 0;
  readonly timeoutMs = 1000;
  constructor(
    readonly size: number,
    private readonly be: Backend,
  ) {}
  allReduce(): void {}
  allReduceAsync(): CommHandle {
    return pending;
  }
  reduceScatter(input: Buffer, output: Buffer): void {
    const o = output as Tensor;
    this.be.copy(o, (input as Tensor).view(0, [o.numel]));
  }
  reduceScatterAsync(input: Buffer, output: Buffer): CommHandle {
    this.reduceScatter(input, output);
    return pending;
  }
  allGather(input: Buffer, output: Buffer): void {
    const i = input as Tensor;
    const o = output as Tensor;
    for (let r = 0; r < this.size; r++) if (o.ptr !== i.ptr || r > 0) this.be.copy(o.view(r * i.numel, [i.numel]), i);
  }
  allGatherAsync(input: Buffer, output: Buffer): CommHandle {
    this.allGather(input, output);
    return pending;
  }
  broadcast(): void {}
  broadcastAsync(): CommHandle {
    return pending;
  }
  barrier(): void {}
  newGroup(): Communicator | null {
    return null;
  }
  destroy(): void {}
}
