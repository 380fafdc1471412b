// Joins the job: discovers this rank, hosts (rank 0) or reaches the rendezvous store, checks
// that every rank agrees on the world, and builds the world communicator.
import { discoverRank, type RankInfo } from './env.js';
import type { Communicator } from './communicator.js';
import { GlooCommunicator } from './gloo.js';
import { StoreClient, startStoreServer, stopStoreServer } from './store.js';

/** Default per-collective timeout: 30 minutes, like torch.distributed. */
export const DEFAULT_COLLECTIVE_TIMEOUT_MS = 30 * 60 * 1000;
/** Default time ranks wait for each other at start-up. */
export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 5 * 60 * 1000;

export interface DistOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the buffers of collectives live: 'cpu' (Gloo, the default) or 'cuda' (NCCL). */
  device?: 'cpu' | 'cuda';
  /** Per-collective timeout (env TELECHAT_COMM_TIMEOUT_S overrides the default). */
  timeoutMs?: number;
  /** Start-up timeout (env TELECHAT_RENDEZVOUS_TIMEOUT_S overrides the default). */
  rendezvousTimeoutMs?: number;
}

export interface ProcessGroup {
  info: RankInfo;
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
  if (opts.device === 'cuda') throw new Error('initDistributed: the NCCL communicator for device buffers is not built yet');
  const timeoutMs = opts.timeoutMs ?? secondsVar(env, 'TELECHAT_COMM_TIMEOUT_S') ?? DEFAULT_COLLECTIVE_TIMEOUT_MS;
  const setupMs = opts.rendezvousTimeoutMs ?? secondsVar(env, 'TELECHAT_RENDEZVOUS_TIMEOUT_S') ?? DEFAULT_RENDEZVOUS_TIMEOUT_MS;
  if (info.worldSize === 1) {
    const world = new GlooCommunicator(null, 'world', 0, 1, '127.0.0.1', timeoutMs, setupMs);
    return { info, world, store: null, destroy: () => world.destroy() };
  }
  const hosting = info.rank === 0;
  if (hosting) startStoreServer(info.masterPort, info.worldSize, info.secret);
  let store: StoreClient | null = null;
  try {
    store = StoreClient.connect(info.masterAddr, info.masterPort, info.secret, info.rank, info.worldSize, setupMs);
    // Gloo listens on the interface that reaches the master, unless TELECHAT_GLOO_HOSTNAME names one.
    const hostname = env.TELECHAT_GLOO_HOSTNAME || store.localAddress();
    const world = new GlooCommunicator(store, 'world', info.rank, info.worldSize, hostname, timeoutMs, setupMs);
    const s = store;
    let destroyed = false;
    return {
      info, world, store,
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
