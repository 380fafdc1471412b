// One rank of the launcher / fault tests; TEST_MODE picks the behaviour.
import { spawn } from 'node:child_process';

const mode = process.env.TEST_MODE;
const rank = Number(process.env.RANK);

if (mode === 'env') {
  const keys = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'OMP_NUM_THREADS', 'TELECHAT_RUN_SECRET'];
  console.log(`ENV ${JSON.stringify(Object.fromEntries(keys.map((k) => [k, process.env[k]])))}`);
  console.log(`multi\nline`);
  process.exit(0);
}

if (mode === 'fail') {
  // Rank 0 starts a grandchild in its process group and reports its pid; rank 1 fails.
  if (rank === 0) {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    console.log(`GRANDCHILD ${child.pid}`);
    setInterval(() => {}, 1000);
  } else {
    setTimeout(() => {
      process.stderr.write('first words\nsomething went wrong on purpose\n');
      process.exit(3);
    }, 300);
  }
}

if (mode === 'orphan') {
  // Leaves a detached grandchild (own session) holding our stdout/stderr pipes, then exits 0.
  const child = spawn('sleep', ['30'], { stdio: 'inherit', detached: true });
  console.log(`ORPHAN ${child.pid}`);
  child.unref();
  process.exit(0);
}

if (mode === 'stubborn') {
  // Ignores SIGTERM: the launcher must SIGKILL it after the grace period.
  process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
  if (rank === 1) setTimeout(() => process.exit(5), 300);
  else setInterval(() => {}, 1000);
}

if (mode === 'sleep') {
  console.log('READY');
  setInterval(() => {}, 1000);
}

if (mode === 'deadpeer' || mode === 'stuckpeer') {
  // Rank 1 leaves (deadpeer) or never joins the collective (stuckpeer); rank 0's allReduce must
  // fail with an error naming the operation and the rank instead of hanging.
  const { initDistributed } = await import('../../../dist/distributed/index.js');
  const { addon } = await import('../../../dist/native/addon.js');
  const pg = initDistributed({ timeoutMs: 1500 });
  const buf = { ptr: addon.alloc(4096, 5), numel: 1024, dtype: 0 };
  pg.world.allReduce(buf, 'sum'); // both ranks are healthy here
  if (rank === 1) {
    if (mode === 'deadpeer') process.exit(0);
    await new Promise((r) => setTimeout(r, 20000));
    process.exit(0);
  }
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  try {
    pg.world.allReduce(buf, 'sum');
    console.log('NO ERROR');
  } catch (e) {
    console.log(`COLLECTIVE ERROR after ${Date.now() - t0} ms: ${e.message}`);
  }
  process.exit(1);
}

if (mode === 'kill' || mode === 'badsecret') {
  const { initDistributed, StoreClient, storeServerRefusedCount } = await import('../../../dist/distributed/index.js');
  const { addon } = await import('../../../dist/native/addon.js');
  const pg = initDistributed({ timeoutMs: 120_000 });
  const n = 1 << 20;
  const buf = { ptr: addon.alloc(n * 4, 5), numel: n, dtype: 0 };
  if (mode === 'badsecret') {
    if (rank === 1) {
      let refused = '';
      try {
        StoreClient.connect(pg.info.masterAddr, pg.info.masterPort, 'not-the-secret', -1, pg.info.worldSize, 5000).close();
      } catch (e) {
        refused = e.message;
      }
      if (!/wrong run secret/.test(refused)) throw new Error(`wrong-secret client was not refused: "${refused}"`);
      console.log(`REFUSED ${refused}`);
    }
    pg.world.barrier();
    for (let i = 0; i < 3; i++) pg.world.allReduce(buf, 'sum');
    if (rank === 0) console.log(`SERVER REFUSED ${storeServerRefusedCount()}`);
    console.log('JOB OK');
    pg.destroy();
  } else {
    // Rank 1 dies by SIGKILL in the middle of a stream of collectives.
    for (let i = 0; ; i++) {
      if (rank === 1 && i === 5) {
        console.log('KILLING MYSELF');
        process.kill(process.pid, 'SIGKILL');
      }
      pg.world.allReduce(buf, 'sum');
    }
  }
}
