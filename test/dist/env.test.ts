// Rank discovery from faked launcher, torchrun, Slurm and Open MPI environments.
import { describe, expect, it } from 'vitest';

import { discoverRank, firstSlurmHost } from '../../src/distributed/env.js';

describe('discoverRank', () => {
  it('reads telechat-launch / torchrun variables', () => {
    expect(discoverRank({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.1.2.3',
      MASTER_PORT: '1234', TELECHAT_RUN_SECRET: 'abc' })).toEqual({
      rank: 3, worldSize: 8, localRank: 1, localWorldSize: 2, masterAddr: '10.1.2.3', masterPort: 1234, secret: 'abc',
      source: 'launcher' });
  });

  it('reads Slurm variables and takes the master from the first host of the node list', () => {
    const info = discoverRank({ SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_NTASKS_PER_NODE: '4',
      SLURM_JOB_NODELIST: 'gpu[07-09,12],cpu1', TELECHAT_RUN_SECRET: 's' });
    expect(info).toEqual({ rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'gpu07', masterPort: 29500,
      secret: 's', source: 'slurm' });
    expect(firstSlurmHost('node1,node2')).toBe('node1');
    expect(firstSlurmHost('a[3]')).toBe('a3');
    expect(discoverRank({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'x', MASTER_ADDR: 'y',
      TELECHAT_RUN_SECRET: 's' }).masterAddr).toBe('y');
  });

  it('reads Open MPI variables', () => {
    expect(discoverRank({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '2',
      OMPI_COMM_WORLD_LOCAL_SIZE: '4', MASTER_PORT: '29600', TELECHAT_RUN_SECRET: 's' })).toEqual({
      rank: 2, worldSize: 4, localRank: 2, localWorldSize: 4, masterAddr: '127.0.0.1', masterPort: 29600, secret: 's',
      source: 'openmpi' });
    expect(() => discoverRank({ OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_SIZE: '2',
      TELECHAT_RUN_SECRET: 's' })).toThrow('set MASTER_ADDR');
  });

  it('prefers launcher variables over Slurm ones (telechat-launch inside an allocation)', () => {
    expect(discoverRank({ RANK: '1', WORLD_SIZE: '2', SLURM_PROCID: '0', SLURM_NTASKS: '1', TELECHAT_RUN_SECRET: 's' }).source)
      .toBe('launcher');
  });

  it('refuses half a torchrun environment that asks for several ranks (each process would train alone); WORLD_SIZE 1 or RANK 0 alone is one process; so are LOCAL_RANK 0 and LOCAL_WORLD_SIZE 1 alone, other values refused', () => {
    expect(() => discoverRank({ WORLD_SIZE: '2', TELECHAT_RUN_SECRET: 's' })).toThrow(
      'environment variable WORLD_SIZE is 2 but RANK is not set: a launch of several ranks sets both on every rank (or start ranks with telechat-launch)');
    expect(() => discoverRank({ RANK: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29500' })).toThrow(
      'environment variable RANK is 1 but WORLD_SIZE is not set: a launch of several ranks sets both on every rank (or start ranks with telechat-launch)');
    expect(discoverRank({ WORLD_SIZE: '1' })).toMatchObject({ rank: 0, worldSize: 1, source: 'single' });
    expect(discoverRank({ RANK: '0' })).toMatchObject({ rank: 0, worldSize: 1, source: 'single' });
    // LOCAL_RANK / LOCAL_WORLD_SIZE alone: refused unless they say what a single process is
    expect(() => discoverRank({ LOCAL_RANK: '3' })).toThrow(
      'environment variable LOCAL_RANK is 3 but RANK and WORLD_SIZE are not both set: a launch of several ranks sets all of them on every rank (or start ranks with telechat-launch); a single process runs as local rank 0 of 1 (pick its GPU with CUDA_VISIBLE_DEVICES)');
    expect(() => discoverRank({ LOCAL_WORLD_SIZE: '8', WORLD_SIZE: '1' })).toThrow('environment variable LOCAL_WORLD_SIZE is 8 but RANK and WORLD_SIZE are not both set');
    // empty is unset, as for MASTER_PORT
    expect(discoverRank({ LOCAL_RANK: '' })).toMatchObject({ rank: 0, worldSize: 1, localRank: 0, source: 'single' });
    expect(() => discoverRank({ LOCAL_RANK: 'x' })).toThrow('environment variable LOCAL_RANK must be an integer, got "x"');
    expect(discoverRank({ LOCAL_RANK: '0', LOCAL_WORLD_SIZE: '1' })).toMatchObject({ rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, source: 'single' });
    // under srun / mpirun their own variables name the job; a stray WORLD_SIZE does not stop it
    expect(discoverRank({ WORLD_SIZE: '4', SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'x', TELECHAT_RUN_SECRET: 's' }).source).toBe('slurm');
  });

  it('is rank 0 of 1 with no variables', () => {
    expect(discoverRank({})).toMatchObject({ rank: 0, worldSize: 1, source: 'single' });
  });

  it('names the variable at fault', () => {
    expect(() => discoverRank({ RANK: 'x', WORLD_SIZE: '2', TELECHAT_RUN_SECRET: 's' })).toThrow('RANK must be an integer');
    expect(() => discoverRank({ RANK: '2', WORLD_SIZE: '2', TELECHAT_RUN_SECRET: 's' })).toThrow('RANK 2 must be < WORLD_SIZE 2');
    expect(() => discoverRank({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000', TELECHAT_RUN_SECRET: 's' }))
      .toThrow('MASTER_PORT must be <= 65535');
    expect(() => discoverRank({ SLURM_PROCID: '0', SLURM_NTASKS: '2' })).toThrow('TELECHAT_RUN_SECRET is not set (slurm launch)');
  });
});
