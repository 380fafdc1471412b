// Our ring allReduce and reduceScatter (native/src/comm/gloo_comm.cc) on buffers of many
// segments: every element of fp32/int32 sums and fp32 max must be exact (integer inputs), see
// workers/ring_collectives.mjs. collectives.test.ts covers dtypes, avg and short lengths; this
// covers the segment pipelines.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { freePort, runLauncher, workersDir } from './helpers.js';


const LENGTHS = [2621441, 5, 1000003, 2621441];

describe.each([2, 3])('%i ranks', (ranks) => {
  it('allReduce and reduceScatter of 5 to 2.6M elements per chunk are exact on every element', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', String(ranks), '--master-port', String(port), '--', 'node',
      join(workersDir, 'ring_collectives.mjs')], { TEST_LENGTHS: LENGTHS.join(',') });
    if (r.code !== 0) throw new Error(`launcher exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
    const stats = r.stdout.split('\n').filter((l) => l.includes('STATS '))
      .map((l) => JSON.parse(l.slice(l.indexOf('STATS ') + 6)) as { rank: number; world: number; checks: number });
    expect(stats.map((s) => s.rank).sort()).toEqual([...Array(ranks).keys()]);
    const total = 2 * 3 * LENGTHS.reduce((a, b) => a + b, 0); // each length: allReduce + reduceScatter, 3 dtype/op pairs
    for (const s of stats) {
      expect(s.world).toBe(ranks);
      expect(s.checks).toBe(total);
    }
  });
});
