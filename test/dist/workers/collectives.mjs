// One rank of the collectives test, started by telechat-launch. Every rank can compute every
// rank's input (a hash of rank and index), so each checks its results against fp64 references
// on its own. Prints one JSON line of statistics; exits non-zero on the first wrong result.
//
// Tolerances (relative to the exact fp64 result, u = unit roundoff of the accumulator):
//  - fp32 sum/avg: |got - exact| <= B = (W+1) * 2^-24 * sum_r |x_r| (/W for avg): W-1 fp32
//    additions, and for avg the rounding of 1/W and of the product
//  - bf16: the result is the fp32 sum s rounded once to bf16 (8 significant bits, half an ulp
//    <= 2^-8 |s|), so |got - exact| <= B + 2^-8 (|exact| + B)
//  - fp16: likewise with 11 significant bits (half ulp <= 2^-11 |s|); we allow 2^-10
//  - int32, max, allGather, broadcast: exact (bitwise).
import { initDistributed, CommDType, paddedLength } from '../../../dist/distributed/index.js';
import { addon } from '../../../dist/native/addon.js';
import { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 } from '../../../dist/native/half.js';

const pg = initDistributed({ timeoutMs: 60_000 });
const { rank, size: W } = pg.world;
const world = pg.world;
const LENGTHS = (process.env.TEST_LENGTHS ?? '1,7,1000003').split(',').map(Number);
const DTYPES = [CommDType.F32, CommDType.BF16, CommDType.F16, CommDType.I32];
const NAMES = { [CommDType.F32]: 'fp32', [CommDType.BF16]: 'bf16', [CommDType.F16]: 'fp16', [CommDType.I32]: 'int32' };
const ESIZE = { [CommDType.F32]: 4, [CommDType.BF16]: 2, [CommDType.F16]: 2, [CommDType.I32]: 4 };
const REL = { [CommDType.F32]: 0, [CommDType.BF16]: 2 ** -8, [CommDType.F16]: 2 ** -10 };

function hash(r, i) {
  let h = Math.imul(r + 1, 0x9e3779b1) ^ Math.imul(i + 7, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

// Exact values of rank r's input (already representable in the dtype) as float64.
function values(dt, r, n) {
  const out = new Float64Array(n);
  if (dt === CommDType.I32) {
    for (let i = 0; i < n; i++) out[i] = (hash(r, i) % 2001) - 1000;
    return out;
  }
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = (hash(r, i) / 2 ** 32) * 4 - 2;
  const rounded = dt === CommDType.F32 ? f : dt === CommDType.BF16 ? bf16ToFloat32(float32ToBf16(f)) : f16ToFloat32(float32ToF16(Float32Array.from(f)));
  for (let i = 0; i < n; i++) out[i] = rounded[i];
  return out;
}

function toRaw(dt, vals) {
  if (dt === CommDType.I32) return Int32Array.from(vals);
  const f = Float32Array.from(vals);
  return dt === CommDType.F32 ? f : dt === CommDType.BF16 ? float32ToBf16(f) : float32ToF16(Float32Array.from(f));
}
function fromRaw(dt, raw) {
  if (dt === CommDType.I32 || dt === CommDType.F32) return Float64Array.from(raw);
  return Float64Array.from(dt === CommDType.BF16 ? bf16ToFloat32(raw) : f16ToFloat32(raw));
}
function rawArray(dt, n) {
  return dt === CommDType.I32 ? new Int32Array(n) : dt === CommDType.F32 ? new Float32Array(n) : new Uint16Array(n);
}

const owned = [];
function buffer(dt, n, vals) {
  const ptr = addon.alloc(Math.max(1, n) * ESIZE[dt], 5);
  owned.push(ptr);
  if (vals) addon.copyIn(ptr, toRaw(dt, vals));
  return { ptr, numel: n, dtype: dt };
}
function read(buf) {
  const raw = rawArray(buf.dtype, buf.numel);
  addon.copyOut(buf.ptr, raw);
  return fromRaw(buf.dtype, raw);
}

// Largest error / tolerance seen per dtype (must stay <= 1).
const stats = { rank, world: W, checks: 0, maxErrOverTol: { fp32: 0, bf16: 0, fp16: 0 } };
function fail(msg) {
  throw new Error(`rank ${rank}: ${msg}`);
}

// got[j] against reduction over ranks of inputs[r][offset + j].
function checkReduce(what, dt, op, got, inputs, offset, count, groupSize) {
  for (let j = 0; j < count; j++) {
    const i = offset + j;
    let exact = op === 'max' ? -Infinity : 0;
    let absSum = 0;
    for (const inp of inputs) {
      const x = inp[i];
      exact = op === 'max' ? Math.max(exact, x) : exact + x;
      absSum += Math.abs(x);
    }
    if (op === 'avg') {
      exact /= groupSize;
      absSum /= groupSize;
    }
    const g = got[j];
    if (dt === CommDType.I32 || op === 'max') {
      if (g !== exact) fail(`${what}[${i}] = ${g}, expected exactly ${exact}`);
    } else {
      const fp32Bound = (groupSize + 1) * 2 ** -24 * absSum;
      const tol = (1 + REL[dt]) * fp32Bound + REL[dt] * Math.abs(exact) + 1e-300;
      const err = Math.abs(g - exact);
      if (!(err <= tol)) fail(`${what}[${i}] = ${g}, expected ${exact} (error ${err} > tolerance ${tol})`);
      stats.maxErrOverTol[NAMES[dt]] = Math.max(stats.maxErrOverTol[NAMES[dt]], err / tol);
    }
    stats.checks++;
  }
}
function checkEqual(what, got, want, offset = 0) {
  for (let j = 0; j < got.length; j++) {
    if (!Object.is(got[j], want[offset + j]) && got[j] !== want[offset + j]) fail(`${what}[${j}] = ${got[j]}, expected ${want[offset + j]}`);
    stats.checks++;
  }
}

const t0 = Date.now();
for (const n of LENGTHS) {
  for (const dt of DTYPES) {
    const name = `${NAMES[dt]} n=${n}`;
    const inputs = [];
    for (let r = 0; r < W; r++) inputs.push(values(dt, r, n));
    const mine = inputs[rank];
    const ops = dt === CommDType.I32 ? ['sum', 'max'] : ['sum', 'avg', 'max'];

    for (const op of ops) {
      const b = buffer(dt, n, mine);
      world.allReduce(b, op);
      checkReduce(`allReduce ${op} ${name}`, dt, op, read(b), inputs, 0, n, W);
    }

    // reduceScatter under the padding contract: pad to a multiple of W with zeros.
    const nPad = paddedLength(n, W);
    const count = nPad / W;
    const padded = inputs.map((v) => {
      const p = new Float64Array(nPad);
      p.set(v);
      return p;
    });
    for (const op of ops) {
      const inp = buffer(dt, nPad, padded[rank]);
      const out = buffer(dt, count);
      world.reduceScatter(inp, out, op);
      const valid = Math.max(0, Math.min(count, n - rank * count));
      checkReduce(`reduceScatter ${op} ${name}`, dt, op, read(out).subarray(0, valid), padded, rank * count, valid, W);
    }

    // allGather: exact, in rank order.
    {
      const inp = buffer(dt, n, mine);
      const out = buffer(dt, n * W);
      world.allGather(inp, out);
      const got = read(out);
      for (let r = 0; r < W; r++) checkEqual(`allGather ${name} from rank ${r}`, got.subarray(r * n, (r + 1) * n), inputs[r]);
    }

    // broadcast from the last rank: exact.
    {
      const b = buffer(dt, n, mine);
      world.broadcast(b, W - 1);
      checkEqual(`broadcast ${name}`, read(b), inputs[W - 1]);
    }

    // async == sync: several collectives in flight at once while this thread computes.
    if (dt !== CommDType.I32) {
      const a1 = buffer(dt, n, mine);
      const a2 = buffer(dt, nPad, padded[rank]);
      const a2out = buffer(dt, count);
      const a3 = buffer(dt, n, mine);
      const s1 = buffer(dt, n, mine);
      const s2 = buffer(dt, nPad, padded[rank]);
      const s2out = buffer(dt, count);
      const h1 = world.allReduceAsync(a1, 'sum');
      const h2 = world.reduceScatterAsync(a2, a2out, 'avg');
      const h3 = world.allReduceAsync(a3, 'max');
      let busy = 0;
      for (let i = 0; i < 200000; i++) busy += Math.sqrt(i); // compute overlapping the collectives
      if (!(busy > 0)) fail('busy loop');
      await h1.waitAsync();
      h2.wait();
      while (!h3.isDone()) await new Promise((r) => setTimeout(r, 1));
      h3.wait();
      world.allReduce(s1, 'sum');
      world.reduceScatter(s2, s2out, 'avg');
      checkEqual(`async allReduce ${name} equals sync`, read(a1), read(s1));
      checkEqual(`async reduceScatter ${name} equals sync`, read(a2out), read(s2out));
      checkReduce(`async allReduce max ${name}`, dt, 'max', read(a3), inputs, 0, n, W);
    }
    while (owned.length) addon.free(owned.pop());
  }
}

// bf16 and fp16 accumulate in fp32: 256 + (W-1) ones. Accumulating in bf16 would lose every
// 1 (256 + 1 rounds back to 256); fp32 accumulation gives 256 + W - 1, rounded once.
{
  const b = buffer(CommDType.BF16, 1, [rank === 0 ? 256 : 1]);
  world.allReduce(b, 'sum');
  const want = bf16ToFloat32(float32ToBf16(Float32Array.of(256 + W - 1)))[0];
  if (read(b)[0] !== want) fail(`bf16 allReduce of 256 and ${W - 1} ones = ${read(b)[0]}, expected ${want} (fp32 accumulation)`);
  while (owned.length) addon.free(owned.pop());
}

// Sub-groups: the last rank and rank 0 (in that order), and everyone else.
if (W >= 3) {
  const pair = [W - 1, 0];
  const rest = [];
  for (let r = 1; r < W - 1; r++) rest.push(r);
  const g1 = world.newGroup(pair);
  const g2 = world.newGroup(rest);
  const mineGroup = pair.includes(rank) ? pair : rest;
  const g = g1 ?? g2;
  if (!g || (g1 && g2)) fail('newGroup membership');
  if (g.rank !== mineGroup.indexOf(rank) || g.size !== mineGroup.length) fail(`group rank ${g.rank}/${g.size}`);
  const b = buffer(CommDType.I32, 3, [rank, 10 * rank, 1]);
  g.allReduce(b, 'sum');
  const s = mineGroup.reduce((a, r) => a + r, 0);
  checkEqual('sub-group allReduce', read(b), [s, 10 * s, mineGroup.length]);
  const gin = buffer(CommDType.I32, 1, [rank]);
  const gout = buffer(CommDType.I32, mineGroup.length);
  g.allGather(gin, gout);
  checkEqual('sub-group allGather order', read(gout), mineGroup);
  g.barrier();
  g.destroy();
  while (owned.length) addon.free(owned.pop());
}

// A group of one (the last rank): every collective is a local copy, no transport.
{
  const solo = world.newGroup([W - 1]);
  if ((solo !== null) !== (rank === W - 1)) fail('single-member group membership');
  if (solo) {
    if (solo.rank !== 0 || solo.size !== 1) fail(`solo group rank ${solo.rank}/${solo.size}`);
    const vals = [1.5, -2.25, 3];
    const b = buffer(CommDType.BF16, 3, vals);
    solo.allReduce(b, 'avg');
    checkEqual('solo allReduce', read(b), vals);
    const out = buffer(CommDType.BF16, 3);
    solo.reduceScatter(b, out, 'sum');
    checkEqual('solo reduceScatter', read(out), vals);
    const g = buffer(CommDType.F16, 3);
    solo.allGather(buffer(CommDType.F16, 3, vals), g);
    checkEqual('solo allGather', read(g), vals);
    solo.destroy();
  }
  while (owned.length) addon.free(owned.pop());
}

world.barrier();
stats.seconds = (Date.now() - t0) / 1000;
console.log(`STATS ${JSON.stringify(stats)}`);
pg.destroy();
