// One rank of the NCCL rendezvous test (test/dist/nccl.test.ts), started by telechat-launch with
// the stand-in libnccl.so.2 (TELECHAT_NCCL_PATH), which logs every call: joins the world NCCL
// communicator through the store, then the sub-group [1, 0] (world rank 1 is its rank 0), then
// tries one collective, which on a machine without a GPU fails when the communication stream is
// created. Prints one "NCCL_RANK {json}" line; the test reads it and the library's call logs.
import { CommDType } from '../../../dist/distributed/communicator.js';
import { discoverRank } from '../../../dist/distributed/env.js';
import { NcclCommunicator } from '../../../dist/distributed/nccl.js';
import { StoreClient, startStoreServer, stopStoreServer } from '../../../dist/distributed/store.js';

const info = discoverRank(process.env);
if (info.rank === 0) startStoreServer(info.masterPort, info.worldSize, info.secret);
const store = StoreClient.connect(info.masterAddr, info.masterPort, info.secret, info.rank, info.worldSize, 30_000);
const world = new NcclCommunicator(store, 'world', info.rank, info.worldSize, 5000, 30_000);
const sub = world.newGroup([1, 0]);
let error = null;
try {
  world.allReduce({ ptr: 4096, numel: 8, dtype: CommDType.F32 });
} catch (e) {
  error = e.message;
}
sub.destroy();
world.destroy();
// Rank 0 keeps the store up until every other rank has said goodbye.
if (info.rank > 0) store.set(`bye/${info.rank}`, 'x');
else store.wait([...Array(info.worldSize - 1).keys()].map((r) => `bye/${r + 1}`), 30_000);
store.close();
if (info.rank === 0) stopStoreServer();
console.log('NCCL_RANK ' + JSON.stringify({ rank: info.rank, pid: process.pid, subRank: sub.rank, subSize: sub.size, error }));
