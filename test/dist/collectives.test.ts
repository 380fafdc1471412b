// Every collective, every dtype, lengths 1, 7 and 1000003, through telechat-launch with 2, 3
// and 4 ranks on 127.0.0.1 (Gloo over TCP). The checks and their tolerances live in
// workers/collectives.mjs; here we require every rank to finish and report them.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { freePort, runLauncher, workersDir } from './helpers.js';


interface Stats {
  rank: number;
  world: number;
  checks: number;
  maxErrOverTol: Record<'fp32' | 'bf16' | 'fp16', number>;
  seconds: number;
}

describe.each([2, 3, 4])('%i ranks', (ranks) => {
  it('allReduce (sum/avg/max), reduceScatter, allGather, broadcast, async, sub-groups: fp32 bf16 fp16 int32', async () => {
    const port = await freePort();
    const r = await runLauncher(['--nproc-per-node', String(ranks), '--master-port', String(port), '--', 'node',
      join(workersDir, 'collectives.mjs')], { TEST_LENGTHS: '1,7,1000003' });
    if (r.code !== 0) throw new Error(`launcher exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
    const stats = r.stdout.split('\n').filter((l) => l.includes('STATS ')).map((l) => JSON.parse(l.slice(l.indexOf('STATS ') + 6)) as Stats);
    expect(stats.map((s) => s.rank).sort()).toEqual([...Array(ranks).keys()]);
    for (const s of stats) {
      expect(s.world).toBe(ranks);
      // Every element of every result was checked: at least (7 ops x 1000003 elements) per dtype.
      expect(s.checks).toBeGreaterThan(4 * 7 * 1_000_003 / ranks);
      for (const v of Object.values(s.maxErrOverTol)) expect(v).toBeLessThanOrEqual(1);
    }
    console.log(`${ranks} ranks: ${JSON.stringify(stats[0])}`);
  });
});
