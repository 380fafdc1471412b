// Argument checks of NcclCommunicator and initDistributed({ device: 'cuda' }) in one process with
// the stand-in libnccl.so.2: every bad call must be refused by name before anything reaches NCCL
// or CUDA (the test checks the library's call log holds no collective). Prints one JSON object
// { name: error message | null }.
import { CommDType } from '../../../dist/distributed/communicator.js';
import { GlooCommunicator } from '../../../dist/distributed/gloo.js';
import { initDistributed } from '../../../dist/distributed/init.js';
import { NcclCommunicator } from '../../../dist/distributed/nccl.js';
import { DType, INT32, MemCategory, Tensor, alloc } from '../../../dist/native/tensor.js';

const world = new NcclCommunicator(null, 'world', 0, 1, 1000, 1000);
const host = alloc(DType.F32, [4], MemCategory.Buffers);
// Device tensors at made-up addresses: never dereferenced, every call below is refused first.
const dev = (type, shape, ptr) => new Tensor(ptr, type, shape, false, 'cuda');
const out = {};
function attempt(name, fn) {
  try {
    fn();
    out[name] = null;
  } catch (e) {
    out[name] = e.message;
  }
}
attempt('allReduce host tensor', () => world.allReduce(host));
attempt('allGather host output', () => world.allGather(dev(DType.F32, [4], 0x10000), host));
attempt('avg on int32', () => world.allReduce(dev(INT32, [4], 0x10000), 'avg'));
attempt('reduceScatter avg int32', () => world.reduceScatter(dev(INT32, [4], 0x10000), dev(INT32, [4], 0x20000), 'avg'));
attempt('reduceScatter lengths', () => world.reduceScatter(dev(DType.F32, [5], 0x10000), dev(DType.F32, [4], 0x20000)));
attempt('allGather dtypes', () => world.allGather(dev(DType.F32, [4], 0x10000), dev(DType.BF16, [4], 0x20000)));
attempt('allGather overlap', () => world.allGather(dev(DType.F32, [4], 0x10000), dev(DType.F32, [4], 0x10008)));
attempt('broadcast root', () => world.broadcast(dev(DType.F32, [4], 0x10000), 1));
attempt('newGroup duplicate', () => world.newGroup([0, 0]));
attempt('newGroup outside', () => world.newGroup([1]));
attempt('newGroup empty', () => world.newGroup([]));
attempt('gloo refuses a cuda tensor', () => {
  const g = new GlooCommunicator(null, 'gloo', 0, 1, '127.0.0.1', 1000, 1000);
  try {
    g.allReduce(dev(DType.F32, [4], 0x10000));
  } finally {
    g.destroy();
  }
});
attempt('initDistributed device name', () => initDistributed({ device: 'gpu', env: { WORLD_SIZE: '1', RANK: '0' } }));
attempt('initDistributed cuda', () => initDistributed({ device: 'cuda', env: { WORLD_SIZE: '1', RANK: '0' } }));
// A sub-group of a single process: a second communicator, its own unique id, no store.
attempt('newGroup [0]', () => {
  const g = world.newGroup([0]);
  if (g.size !== 1 || g.rank !== 0 || g.backend !== 'nccl') throw new Error('bad sub-group');
  g.destroy();
});
// A valid call reaches CUDA (the communication stream is created at the first collective).
attempt('valid allReduce', () => world.allReduce({ ptr: 0x10000, numel: 4, dtype: CommDType.F32 }));
world.destroy();
attempt('after destroy', () => world.barrier());
console.log(JSON.stringify(out));
