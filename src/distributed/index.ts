// Public surface of the distributed runtime.
export { discoverRank, firstSlurmHost, type RankInfo } from './env.js';
export { CommDType, commBuffer, commDTypeSize, paddedLength, type Buffer, type CommBuffer, type CommHandle,
  type CollectiveOptions, type Communicator, type ReduceOp } from './communicator.js';
export { GlooCommunicator } from './gloo.js';
export { initDistributed, DEFAULT_COLLECTIVE_TIMEOUT_MS, DEFAULT_RENDEZVOUS_TIMEOUT_MS, type DistDevice, type DistOptions,
  type ProcessGroup } from './init.js';
export { StoreClient, startStoreServer, stopStoreServer, storeServerRefusedCount } from './store.js';
export { NcclCommunicator, ncclInfo } from './nccl.js';
