// Rank discovery: who am I in the job? Ranks started by telechat-launch or torchrun read
// RANK/WORLD_SIZE/...; direct Slurm (srun) and Open MPI (mpirun) launches are recognised
// from their own variables. A single process with none of these is rank 0 of 1; one with only
// half of RANK/WORLD_SIZE that asks for more than one rank is refused, as is a LOCAL_RANK or
// LOCAL_WORLD_SIZE without them that is not the single process's 0 or 1.
export interface RankInfo {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** Shared secret every rendezvous connection must present. */
  secret: string;
  source: 'launcher' | 'slurm' | 'openmpi' | 'single';
}

const DEFAULT_PORT = 29500;

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const raw = env[name];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) throw new Error(`environment variable ${name} must be an integer, got ${JSON.stringify(raw)}`);
  const v = Number(raw);
  if (v < min) throw new Error(`environment variable ${name} must be >= ${min}, got ${v}`);
  return v;
}

function portVar(env: NodeJS.ProcessEnv): number {
  if (env.MASTER_PORT === undefined || env.MASTER_PORT === '') return DEFAULT_PORT;
  const p = intVar(env, 'MASTER_PORT', 1);
  if (p > 65535) throw new Error(`environment variable MASTER_PORT must be <= 65535, got ${p}`);
  return p;
}

/**
 * First host of a Slurm node list: "node[03-05,09],gpu7" -> "node03"; "a,b" -> "a".
 * Only the first entry matters (rank 0 runs there).
 */
export function firstSlurmHost(nodelist: string): string {
  const m = /^([^,[]+)(\[([^\]]+)\])?/.exec(nodelist.trim());
  if (!m || m[1] === undefined) throw new Error(`cannot parse SLURM_JOB_NODELIST ${JSON.stringify(nodelist)}`);
  if (m[3] === undefined) return m[1];
  const firstRange = m[3].split(',')[0]!;
  const lo = firstRange.split('-')[0]!;
  return m[1] + lo;
}

function secretOf(env: NodeJS.ProcessEnv, worldSize: number, source: RankInfo['source']): string {
  const s = env.TELECHAT_RUN_SECRET ?? '';
  if (s === '' && worldSize > 1) {
    throw new Error(`TELECHAT_RUN_SECRET is not set (${source} launch): export the same secret on every rank, ` +
      'e.g. export TELECHAT_RUN_SECRET=$(openssl rand -hex 16) before srun/mpirun, or start ranks with telechat-launch');
  }
  return s;
}

export function discoverRank(env: NodeJS.ProcessEnv = process.env): RankInfo {
  if (env.RANK !== undefined && env.WORLD_SIZE !== undefined) {
    const worldSize = intVar(env, 'WORLD_SIZE', 1);
    const rank = intVar(env, 'RANK', 0);
    if (rank >= worldSize) throw new Error(`RANK ${rank} must be < WORLD_SIZE ${worldSize}`);
    const localRank = env.LOCAL_RANK !== undefined ? intVar(env, 'LOCAL_RANK', 0) : rank;
    const localWorldSize = env.LOCAL_WORLD_SIZE !== undefined ? intVar(env, 'LOCAL_WORLD_SIZE', 1) : worldSize;
    return {
      rank, worldSize, localRank, localWorldSize, masterAddr: env.MASTER_ADDR || '127.0.0.1', masterPort: portVar(env),
      secret: secretOf(env, worldSize, 'launcher'), source: 'launcher',
    };
  }
  if (env.SLURM_PROCID !== undefined && env.SLURM_NTASKS !== undefined) {
    const worldSize = intVar(env, 'SLURM_NTASKS', 1);
    const rank = intVar(env, 'SLURM_PROCID', 0);
    const localRank = env.SLURM_LOCALID !== undefined ? intVar(env, 'SLURM_LOCALID', 0) : 0;
    const localWorldSize = env.SLURM_NTASKS_PER_NODE !== undefined && /^\d+$/.test(env.SLURM_NTASKS_PER_NODE)
      ? Number(env.SLURM_NTASKS_PER_NODE) : env.SLURM_JOB_NUM_NODES === '1' ? worldSize : 1;
    const masterAddr = env.MASTER_ADDR || (env.SLURM_JOB_NODELIST ? firstSlurmHost(env.SLURM_JOB_NODELIST) : '127.0.0.1');
    return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort: portVar(env),
      secret: secretOf(env, worldSize, 'slurm'), source: 'slurm' };
  }
  if (env.OMPI_COMM_WORLD_RANK !== undefined && env.OMPI_COMM_WORLD_SIZE !== undefined) {
    const worldSize = intVar(env, 'OMPI_COMM_WORLD_SIZE', 1);
    const rank = intVar(env, 'OMPI_COMM_WORLD_RANK', 0);
    const localRank = env.OMPI_COMM_WORLD_LOCAL_RANK !== undefined ? intVar(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0) : 0;
    const localWorldSize = env.OMPI_COMM_WORLD_LOCAL_SIZE !== undefined ? intVar(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', 1) : 1;
    if (!env.MASTER_ADDR && worldSize > 1 && localWorldSize !== worldSize) {
      throw new Error('Open MPI launch across nodes: set MASTER_ADDR to the host of rank 0 (mpirun -x MASTER_ADDR=...)');
    }
    return { rank, worldSize, localRank, localWorldSize, masterAddr: env.MASTER_ADDR || '127.0.0.1',
      masterPort: portVar(env), secret: secretOf(env, worldSize, 'openmpi'), source: 'openmpi' };
  }
  // half a torchrun-style environment that asks for more than one rank would otherwise train
  // alone in each process, as if it were the whole job
  if (env.WORLD_SIZE !== undefined && intVar(env, 'WORLD_SIZE', 1) > 1) {
    throw new Error(`environment variable WORLD_SIZE is ${env.WORLD_SIZE} but RANK is not set: a launch of several ranks sets both on every rank (or start ranks with telechat-launch)`);
  }
  if (env.RANK !== undefined && intVar(env, 'RANK', 0) > 0) {
    throw new Error(`environment variable RANK is ${env.RANK} but WORLD_SIZE is not set: a launch of several ranks sets both on every rank (or start ranks with telechat-launch)`);
  }
  // LOCAL_RANK / LOCAL_WORLD_SIZE place a rank among its node's ranks; alone they would be ignored
  // (a single process is local rank 0 of 1, on the first visible GPU)
  for (const [name, single] of [['LOCAL_RANK', 0], ['LOCAL_WORLD_SIZE', 1]] as const) {
    if (env[name] !== undefined && env[name] !== '' && intVar(env, name, single) !== single) {
      throw new Error(`environment variable ${name} is ${env[name]} but RANK and WORLD_SIZE are not both set: a launch of several ranks sets all of them on every rank (or start ranks with telechat-launch); a single process runs as local rank 0 of 1 (pick its GPU with CUDA_VISIBLE_DEVICES)`);
    }
  }
  return { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', masterPort: portVar(env),
    secret: env.TELECHAT_RUN_SECRET ?? '', source: 'single' };
}
