// The NCCL communicator on one GPU (world size 1: NCCL refuses two ranks on one device), run by
// check_cuda.sh (stage nccl) from the repo root after tsc (imports dist/), with TELECHAT_NCCL_PATH
// pointing at PyTorch's NCCL. Writes one JSON line per check to argv[2]; exits 1 if any failed.
//
// What a single rank can prove, and how:
//  - every collective x dtype (fp32 bf16 fp16 int32) x length (1, 7, 1000003), sync, async+wait
//    and async+waitAsync: at size 1 the reduction of one rank's values is those values (avg
//    multiplies by 1/1 = 1 exactly), and allGather / reduceScatter copy the input into an output
//    pre-filled with a sentinel, so the expected result is the input, bit for bit;
//  - ordering: the collective must see what kernels queued before it on the legacy stream wrote
//    (a chain of scale kernels feeds a copy that would read stale values without the event);
//  - overlap: submit returns before queued compute finishes (isDone false), results equal sync;
//    waitAsync leaves the event loop running;
//  - timeout: a collective stuck behind long compute times out, aborts its communicator (a
//    sub-group) with the named error, and the world communicator keeps working.
import { appendFileSync } from 'node:fs';

import { CommDType, initDistributed, ncclInfo } from '../../dist/distributed/index.js';
import { cudaAddon } from '../../dist/native/addon.js';
import { float32ToBf16, float32ToF16 } from '../../dist/native/half.js';

const outPath = process.argv[2] ?? '/dev/stdout';
const c = cudaAddon();
let failures = 0;

function record(name, pass, detail = {}) {
  if (!pass) failures++;
  appendFileSync(outPath, JSON.stringify({ name, pass, ...detail }) + '\n');
}
async function check(name, fn) {
  try {
    await fn();
  } catch (e) {
    record(name, false, { error: String(e && e.stack ? e.stack : e) });
  }
}

const NAMES = { [CommDType.F32]: 'fp32', [CommDType.BF16]: 'bf16', [CommDType.F16]: 'fp16', [CommDType.I32]: 'int32' };
const ESIZE = { [CommDType.F32]: 4, [CommDType.BF16]: 2, [CommDType.F16]: 2, [CommDType.I32]: 4 };
const owned = [];
function devBuf(dt, n) {
  const ptr = c.cudaAlloc(Math.max(1, n) * ESIZE[dt], 5);
  owned.push(ptr);
  return { ptr, numel: n, dtype: dt, device: 'cuda' };
}
function hash(i, salt) {
  let h = Math.imul(i + 7, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}
function hostValues(dt, n, salt) {
  if (dt === CommDType.I32) return Int32Array.from({ length: n }, (_, i) => (hash(i, salt) % 2001) - 1000);
  const f = Float32Array.from({ length: n }, (_, i) => (hash(i, salt) / 2 ** 32) * 4 - 2);
  return dt === CommDType.F32 ? f : dt === CommDType.BF16 ? float32ToBf16(f) : float32ToF16(f);
}
function sentinel(dt, n) {
  const a = dt === CommDType.I32 ? new Int32Array(n) : dt === CommDType.F32 ? new Float32Array(n) : new Uint16Array(n);
  new Uint8Array(a.buffer).fill(0x7f);
  return a;
}
function download(buf) {
  const a = buf.dtype === CommDType.I32 ? new Int32Array(buf.numel) : buf.dtype === CommDType.F32 ? new Float32Array(buf.numel)
    : new Uint16Array(buf.numel);
  c.cudaCopyOut(buf.ptr, a);
  return a;
}
function firstDiff(a, b) {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) return -2;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / a.BYTES_PER_ELEMENT);
  return -1;
}

const info = ncclInfo();
record('nccl.load', true, info);
const pg = initDistributed({ device: 'cuda', env: { RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0' }, timeoutMs: 60_000 });
const world = pg.world;
record('init.world_size_1', world.backend === 'nccl' && world.size === 1 && world.rank === 0 && pg.store === null,
  { backend: world.backend, size: world.size, store: pg.store === null ? null : 'present' });

// ---- every collective x dtype x length x way of waiting ----
const DTYPES = [CommDType.F32, CommDType.BF16, CommDType.F16, CommDType.I32];
const LENGTHS = [1, 7, 1000003];
const MODES = ['sync', 'async.wait', 'async.waitAsync'];
async function run(mode, sync, asyncFn) {
  if (mode === 'sync') return sync();
  const h = asyncFn();
  if (mode === 'async.wait') h.wait();
  else await h.waitAsync();
  if (!h.isDone()) throw new Error('handle not done after waiting');
}
let collectives = 0;
for (const dt of DTYPES) {
  for (const n of LENGTHS) {
    const input = hostValues(dt, n, n + dt);
    const a = devBuf(dt, n), out = devBuf(dt, n);
    for (const mode of MODES) {
      const cases = [];
      for (const red of ['sum', 'avg', 'max']) {
        cases.push([`allReduce.${red}`, () => world.allReduce(a, red), () => world.allReduceAsync(a, red), a, true, red]);
        cases.push([`reduceScatter.${red}`, () => world.reduceScatter(a, out, red), () => world.reduceScatterAsync(a, out, red), out, false, red]);
      }
      cases.push(['allGather', () => world.allGather(a, out), () => world.allGatherAsync(a, out), out, false, 'sum']);
      cases.push(['broadcast', () => world.broadcast(a, 0), () => world.broadcastAsync(a, 0), a, true, 'sum']);
      for (const [op, sync, asyncFn, result, inPlace, red] of cases) {
        const name = `${op}.${NAMES[dt]}.n${n}.${mode}`;
        await check(name, async () => {
          c.cudaCopyIn(a.ptr, input);
          if (!inPlace) c.cudaCopyIn(out.ptr, sentinel(dt, n));
          if (red === 'avg' && dt === CommDType.I32) {
            let msg = '';
            try { await run(mode, sync, asyncFn); } catch (e) { msg = e.message; }
            record(name, /avg is not defined for int32/.test(msg), { refused: msg });
            return;
          }
          await run(mode, sync, asyncFn);
          collectives++;
          const bad = firstDiff(download(result), input);
          record(name, bad === -1, { firstBad: bad });
        });
      }
    }
  }
}
await check('barrier', () => {
  world.barrier();
  world.barrier();
  record('barrier', true);
});
record('collectives.count', collectives === DTYPES.length * LENGTHS.length * MODES.length * 8 - LENGTHS.length * MODES.length * 2,
  { collectives });

// ---- ordering: the collective sees every kernel queued before it on the legacy stream ----
const BIG = 1 << 26;  // 64M fp32 = 256 MiB: 50 scale kernels take milliseconds, a copy of stale data would show
await check('order.legacy_before_collective', () => {
  const x = devBuf(CommDType.F32, BIG), y = devBuf(CommDType.F32, BIG);
  c.cudaCopyIn(x.ptr, new Float32Array(BIG).fill(1));
  c.cudaCopyIn(y.ptr, sentinel(CommDType.F32, BIG));
  for (let k = 0; k < 50; k++) c.cudaScaleInplace(x.ptr, 2, BIG, 0);
  const h = world.reduceScatterAsync(x, y);
  h.wait();
  // The legacy stream now waits on the collective: a kernel queued after the wait sees its result.
  c.cudaScaleInplace(y.ptr, 0.5, BIG, 0);
  const got = download(y);
  let bad = -1;
  for (let i = 0; i < BIG; i++) if (got[i] !== 2 ** 49) { bad = i; break; }
  record('order.legacy_before_collective', bad === -1, { firstBad: bad, value: bad >= 0 ? got[bad] : 2 ** 49 });
});

// ---- overlap: submit does not wait for queued compute; results equal the sync ones ----
const HEAVY = 1 << 28;  // 256M fp32 = 1 GiB per scale kernel
await check('overlap.async_equals_sync', async () => {
  const heavy = devBuf(CommDType.F32, HEAVY);
  const n = 1000003;
  const input = hostValues(CommDType.BF16, n, 99);
  const a = devBuf(CommDType.BF16, n), syncOut = devBuf(CommDType.BF16, n), asyncOut = devBuf(CommDType.BF16, n);
  c.cudaCopyIn(a.ptr, input);
  world.reduceScatter(a, syncOut);
  world.allGather(a, asyncOut);  // warm-up (NCCL sets up its channels on first use)
  c.cudaCopyIn(asyncOut.ptr, sentinel(CommDType.BF16, n));
  for (let k = 0; k < 200; k++) c.cudaScaleInplace(heavy.ptr, 1, HEAVY, 0);  // ~0.1 s of GPU work ahead of it
  const t0 = performance.now();
  const h = world.reduceScatterAsync(a, asyncOut);
  const submitMs = performance.now() - t0;
  const doneAtSubmit = h.isDone();
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 1);
  await h.waitAsync();
  clearInterval(ticker);
  const waitedMs = performance.now() - t0;
  const bad = firstDiff(download(asyncOut), download(syncOut));
  record('overlap.async_equals_sync', bad === -1 && !doneAtSubmit && h.isDone() && ticks > 0,
    { firstBad: bad, doneAtSubmit, submitMs, waitedMs, eventLoopTicks: ticks });
});

// ---- timeout: stuck behind long compute, a sub-group's collective times out and aborts ----
await check('timeout.abort', () => {
  const g = world.newGroup([0]);
  const heavy = devBuf(CommDType.F32, HEAVY);
  const small = devBuf(CommDType.F32, 16);
  for (let k = 0; k < 400; k++) c.cudaScaleInplace(heavy.ptr, 1, HEAVY, 0);  // ~0.2 s ahead of the collective
  const t0 = performance.now();
  let msg = '';
  try { g.allReduce(small, 'sum', { timeoutMs: 20 }); } catch (e) { msg = e.message; }
  const ms = performance.now() - t0;
  let next = '';
  try { g.barrier(); } catch (e) { next = e.message; }
  c.cudaSynchronize();  // the GPU drains: nothing hangs after the abort
  g.destroy();
  world.allReduce(small);  // the world communicator is unaffected
  record('timeout.abort', /^allReduce failed on rank 0 \(group of 1, timeout 20 ms\): timed out/.test(msg) && ms >= 20 && ms < 1000 &&
    /aborted after an earlier failure/.test(next), { error: msg, ms, next });
});

pg.destroy();
for (const p of owned) c.cudaFree(p);
record('summary', failures === 0, { failures, collectives });
process.exit(failures ? 1 : 0);
