// Joins the job: discovers this rank, hosts (rank 0) or reaches the rendezvous store, checks
// that every rank agrees on the world, and builds the world communicator.
import { discoverRank, type RankInfo } from './env.js';
import type { Communicator } from './communicator.js';
import { GlooCommunicator } from './gloo.js';
import { NcclCommunicator } from './nccl.js';
import { selectCudaDevice } from '../native/cuda_backend.js';
import { StoreClient, startStoreServer, stopStoreServer } from './store.js';

/** Default per-collective timeout: 30 minutes, like torch.distributed. */
export const DEFAULT_COLLECTIVE_TIMEOUT_MS = 30 * 60 * 1000;
/** Default time ranks wait for each other at start-up. */
export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 5 * 60 * 1000;

export type DistDevice = 'cpu' | 'cuda';

export interface DistOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Where the collectives' buffers live: 'cpu' (default) gives a Gloo world, 'cuda' selects the
   * GPU of the rank's local rank (selectCudaDevice: LOCAL_RANK, SLURM_LOCALID or
   * OMPI_COMM_WORLD_LOCAL_RANK) and gives an NCCL world, also for a single process.
   */
  device?: DistDevice;
  /** Per-collective timeout (env TELECHAT_COMM_TIMEOUT_S overrides the default). */
  timeoutMs?: number;
  /** Start-up timeout (env TELECHAT_RENDEZVOUS_TIMEOUT_S overrides the default). */
  rendezvousTimeoutMs?: number;
}

export interface ProcessGroup {
  info: RankInfo;
  device: DistDevice;
  world: Communicator;
  /** null for a single process. */
  store: StoreClient | null;
  /** Waits for every rank, then releases the communicator, the store and (rank 0) the server. */
  destroy(): void;
}

function secondsVar(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`environment variable ${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  return v * 1000;
}

export function initDistributed(opts: DistOptions = {}): ProcessGroup {
  const env = opts.env ?? process.env;
  const info = discoverRank(env);
  const timeoutMs = opts.timeoutMs ?? secondsVar(env, 'TELECHAT_COMM_TIMEOUT_S') ?? DEFAULT_COLLECTIVE_TIMEOUT_MS;
  const setupMs = opts.rendezvousTimeoutMs ?? secondsVar(env, 'TELECHAT_RENDEZVOUS_TIMEOUT_S') ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS;
  const device = opts.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new Error(`initDistributed: device must be 'cpu' or 'cuda', got ${JSON.stringify(device)}`);
  // NCCL binds a communicator to the current device, so it is chosen before anything else.
  if (device === 'cuda') selectCudaDevice(info.localRank);
  if (info.worldSize === 1) {
    // A single process needs no store: NCCL creates its unique id locally.
    const world = device === 'cuda' ? new NcclCommunicator(null, 'world', 0, 1, timeoutMs, setupMs)
      : new GlooCommunicator(null, 'world', 0, 1, '127.0.0.1', timeoutMs, setupMs);
    return { info, device, world, store: null, destroy: () => world.destroy() };
  }
  const hosting = info.rank === 0;
  if (hosting) startStoreServer(info.masterPort, info.worldSize, info.secret);
  let store: StoreClient | null = null;
  try {
    store = StoreClient.connect(info.masterAddr, info.masterPort, info.secret, info.rank, info.worldSize, setupMs);
    // Gloo listens on the interface that reaches the master, unless TELECHAT_GLOO_HOSTNAME names one.
    const world = device === 'cuda' ? new NcclCommunicator(store, 'world', info.rank, info.worldSize, timeoutMs, setupMs)
      : new GlooCommunicator(store, 'world', info.rank, info.worldSize, env.TELECHAT_GLOO_HOSTNAME || store.localAddress(),
        timeoutMs, setupMs);
    const s = store;
    let destroyed = false;
    return {
      info, device, world, store,
      destroy: () => {
        if (destroyed) return;
        destroyed = true;
        // Rank 0 must keep the server up until everyone is done with it.
        s.barrier('destroy', info.worldSize, setupMs);
        world.destroy();
        s.close();
        if (hosting) stopStoreServer();
      },
    };
  } catch (e) {
    store?.close();
    if (hosting) stopStoreServer();
    throw e;
  }
}
