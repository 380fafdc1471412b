// Every op of the CUDA backend against the CPU backend (native/src/cpu, itself proven against
// PyTorch by the CPU test suite), on the same random inputs, fp32 and bf16; plus the device
// allocator's accounting and the error paths. Run by check_cuda.sh on a GPU machine from the
// repo root after `tsc` (imports dist/). Writes one JSON line per check to argv[2].
//
// Tolerances, per element |cuda - cpu| <= atol + rtol * |cpu|:
//   fp32: rtol 1e-4, atol 1e-6 * max|cpu| (summation order, expf/rsqrtf ulps; a bug is O(1));
//   bf16: rtol 2^-7 (one bf16 rounding step when the fp32 values straddle a rounding boundary),
//         atol 2e-3 * max|cpu| (cancellation in reductions);
//   attention (bf16 P and dS feed the tensor cores, as in FlashAttention-2): max error / max|cpu|
//   <= 2e-2 forward and 5e-2 gradients; the strict rule vs PyTorch is in attention_vs_torch.py.
import { appendFileSync } from 'node:fs';

//
// `--standin` runs the script over the host-memory stand-in runtime (src/native/host_cuda.ts)
// instead of a GPU: the test suite does this so the script keeps working as the code changes
// (the stand-in runs the CPU kernels, so it proves the script, not the kernels); the checks of
// the real caching allocator are left out there.
import { addon, cudaAddon, useCudaFunctions } from '../../dist/native/addon.js';
import { cpuBackend } from '../../dist/native/cpu_backend.js';
import { createCudaBackend, cudaBackendOver, selectCudaDevice } from '../../dist/native/cuda_backend.js';
import { hostCudaFunctions } from '../../dist/native/host_cuda.js';
import { DType, INT32, MemCategory, alloc, fromFloat32, fromInt32 } from '../../dist/native/tensor.js';

const outPath = process.argv[2] ?? '/dev/stdout';
const standin = process.argv.includes('--standin');
if (standin) useCudaFunctions(hostCudaFunctions());
const c = cudaAddon();
if (!standin) selectCudaDevice(0); // one process: the first visible GPU
const gpu = standin ? cudaBackendOver(c) : createCudaBackend();
let failures = 0;

function record(name, ok, detail) {
  if (!ok) failures++;
  appendFileSync(outPath, JSON.stringify({ name, pass: ok, ...detail }) + '\n');
}

// A process that sees one GPU uses it whatever its local rank (srun --gpus-per-task=1 gives
// SLURM_LOCALID 0-7 to processes that each see one GPU); with more GPUs the local rank picks.
if (!standin) {
  const devices = addon.buildInfo().cudaDevices;
  const localRank = devices === 1 ? 5 : devices - 1;
  let got;
  try {
    got = selectCudaDevice(localRank);
  } catch (e) {
    got = e instanceof Error ? e.message : String(e);
  }
  record('select_device', got === (devices === 1 ? 0 : localRank), { devices, localRank, got });
  selectCudaDevice(0);
}

let seed = 12345;
function rand() {  // mulberry32: reproducible inputs without dependencies
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function randn(n, scale = 1) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (rand() + rand() + rand() - 1.5) * 2;
  return a;
}

/** The same values as a host tensor and a device tensor. */
function pair(values, dt, shape) {
  return [fromFloat32(values, dt, shape, MemCategory.Activations), fromFloat32(values, dt, shape, MemCategory.Activations, 'cuda')];
}
function pairInt(values, shape) {
  return [fromInt32(values, shape, MemCategory.Buffers), fromInt32(values, shape, MemCategory.Buffers, 'cuda')];
}

function compare(name, cpuT, gpuT, tol) {
  const a = cpuT.toFloat32(), b = gpuT.toFloat32();
  let maxRef = 0, maxErr = 0, bad = -1;
  for (let i = 0; i < a.length; i++) maxRef = Math.max(maxRef, Math.abs(a[i]));
  const dt = cpuT.type;
  const rtol = tol?.rtol ?? (dt === DType.F32 ? 1e-4 : 2 ** -7);
  const atol = (tol?.atol ?? (dt === DType.F32 ? 1e-6 : 2e-3)) * maxRef;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= atol + rtol * Math.abs(a[i])) && bad < 0) bad = i;
    if (!(e <= maxErr)) maxErr = e;  // NaN propagates
  }
  record(name, bad < 0, { maxErr, maxRef, firstBad: bad, ...(bad >= 0 ? { cpu: a[bad], cuda: b[bad] } : {}) });
}

function compareRel(name, cpuT, gpuT, limit) {
  const a = cpuT.toFloat32(), b = gpuT.toFloat32();
  let maxRef = 0, maxErr = 0;
  for (let i = 0; i < a.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(a[i]));
    const e = Math.abs(a[i] - b[i]);
    maxErr = e > maxErr || Number.isNaN(e) ? e : maxErr;
  }
  const rel = maxErr / maxRef;
  record(name, rel <= limit, { relErr: rel, limit });
}

function check(name, fn) {
  try { fn(); } catch (e) { record(name, false, { error: String(e && e.stack ? e.stack : e) }); }
}

const dts = [['fp32', DType.F32], ['bf16', DType.BF16]];
for (const [dn, dt] of dts) {
  const T = 37, C = 96, V = 211, F = 80;
  check(`elementwise/${dn}`, () => {
    const [ha, da] = pair(randn(T * C), dt, [T, C]);
    const [hb, db] = pair(randn(T * C), dt, [T, C]);
    cpuBackend.add(ha, ha, hb); gpu.add(da, da, db); compare(`add/${dn}`, ha, da);
    cpuBackend.scale(ha, 0.37); gpu.scale(da, 0.37); compare(`scale/${dn}`, ha, da);
    const s1 = addon.sumSquares(ha.ptr, ha.numel, dt), s2 = c.cudaSumSquares(da.ptr, da.numel, dt);
    record(`sumSquares/${dn}`, Math.abs(s1 - s2) <= 1e-9 * s1, { cpu: s1, cuda: s2 });
    gpu.copy(db, da); compare(`copy/${dn}`, ha, db);
    gpu.zero(da); record(`zero/${dn}`, da.toFloat32().every((x) => x === 0), {});
  });
  check(`embedding/${dn}`, () => {
    const [ht, dtb] = pair(randn(V * C), dt, [V, C]);
    const ids = Int32Array.from({ length: T }, (_, i) => (i * 7) % 13);  // repeated ids: accumulation order matters
    const [hi, di] = pairInt(ids, [T]);
    const [ho, dout] = pair(new Float32Array(T * C), dt, [T, C]);
    cpuBackend.embeddingForward(ho, hi, ht); gpu.embeddingForward(dout, di, dtb); compare(`embeddingForward/${dn}`, ho, dout);
    const [hg, dg] = pair(randn(T * C), dt, [T, C]);
    const [hdt, ddt] = pair(randn(V * C, 0.1), DType.F32, [V, C]);
    cpuBackend.embeddingBackward(hdt, hi, hg); gpu.embeddingBackward(ddt, di, dg); compare(`embeddingBackward/${dn}`, hdt, ddt);
    const [, badIds] = pairInt(Int32Array.from({ length: T }, (_, i) => (i === 5 ? V : 0)), [T]);
    let msg = '';
    try { gpu.embeddingForward(dout, badIds, dtb); } catch (e) { msg = e.message; }
    record(`embeddingForward/bad-id/${dn}`, msg.includes(`token id ${V} at position 5`), { msg });
  });
  check(`rmsnorm/${dn}`, () => {
    const [hx, dx] = pair(randn(T * C), dt, [T, C]);
    const [hw, dw] = pair(randn(C), dt, [C]);
    const [hy, dy] = pair(new Float32Array(T * C), dt, [T, C]);
    const [hr, dr] = pair(new Float32Array(T), DType.F32, [T]);
    cpuBackend.rmsnormForward(hy, hr, hx, hw, 1e-5); gpu.rmsnormForward(dy, dr, dx, dw, 1e-5);
    compare(`rmsnormForward/${dn}`, hy, dy); compare(`rmsnormForward/rstd/${dn}`, hr, dr, { rtol: 1e-5, atol: 0 });
    const [hgy, dgy] = pair(randn(T * C), dt, [T, C]);
    const [hgx, dgx] = pair(randn(T * C, 0.1), dt, [T, C]);
    const [hgw, dgw] = pair(randn(C, 0.1), DType.F32, [C]);
    cpuBackend.rmsnormBackward(hgx, hgw, hgy, hx, hw, hr); gpu.rmsnormBackward(dgx, dgw, dgy, dx, dw, dr);
    compare(`rmsnormBackward/dx/${dn}`, hgx, dgx); compare(`rmsnormBackward/dw/${dn}`, hgw, dgw, { rtol: 1e-4, atol: 1e-5 });
  });
  check(`linear/${dn}`, () => {
    const In = 64, Out = 48;
    const [hx, dx] = pair(randn(T * In), dt, [T, In]);
    const [hw, dw] = pair(randn(Out * In, 0.2), dt, [Out, In]);
    const [hb, db] = pair(randn(Out), dt, [Out]);
    const [hy, dy] = pair(new Float32Array(T * Out), dt, [T, Out]);
    cpuBackend.linearForward(hy, hx, hw, hb, false); gpu.linearForward(dy, dx, dw, db, false); compare(`linearForward/${dn}`, hy, dy);
    // accumulate: the product and bias added onto what y holds (an adapter's output, under LoRA)
    const [hya, dya] = pair(randn(T * Out), dt, [T, Out]);
    cpuBackend.linearForward(hya, hx, hw, hb, true); gpu.linearForward(dya, dx, dw, db, true); compare(`linearForward/accumulate/${dn}`, hya, dya);
    const [hg, dg] = pair(randn(T * Out), dt, [T, Out]);
    const [hgx, dgx] = pair(randn(T * In), dt, [T, In]);
    const [hgw, dgw] = pair(randn(Out * In), DType.F32, [Out, In]);
    const [hgb, dgb] = pair(randn(Out), DType.F32, [Out]);
    cpuBackend.linearBackward(hgx, hgw, hgb, hg, hx, hw, true); gpu.linearBackward(dgx, dgw, dgb, dg, dx, dw, true);
    compare(`linearBackward/dx/${dn}`, hgx, dgx); compare(`linearBackward/dw/${dn}`, hgw, dgw, { rtol: 1e-4, atol: 1e-5 });
    compare(`linearBackward/db/${dn}`, hgb, dgb, { rtol: 1e-4, atol: 1e-5 });
    // dx written over x (the MLP writes dh over h): dW must read x before dX overwrites it
    const [hxo, dxo] = pair(hx.toFloat32(), dt, [T, In]);
    const [hgxo] = pair(new Float32Array(T * In), dt, [T, In]);
    const [hgwo, dgwo] = pair(new Float32Array(Out * In), DType.F32, [Out, In]);
    cpuBackend.linearBackward(hgxo, hgwo, null, hg, hxo, hw, false); gpu.linearBackward(dxo, dgwo, null, dg, dxo, dw, false);
    compare(`linearBackward/dx-over-x/${dn}`, hgxo, dxo); compare(`linearBackward/dw-dx-over-x/${dn}`, hgwo, dgwo, { rtol: 1e-4, atol: 1e-5 });
  });
  check(`lora/${dn}`, () => {
    // an adapter on output columns [40, 88) of a 96-wide y (a window inside a fused matrix)
    const In = 64, R = 8, Out = 48, width = 96, col0 = 40, scale = 2.5;
    const [hx, dx] = pair(randn(T * In), dt, [T, In]);
    const [ha, da] = pair(randn(R * In, 0.2), dt, [R, In]);
    const [hb, db] = pair(randn(Out * R, 0.2), dt, [Out, R]);
    const [hy, dy] = pair(randn(T * width), dt, [T, width]);
    const [hu, du] = pair(new Float32Array(T * R), dt, [T, R]);
    cpuBackend.loraForward(hy, hu, hx, ha, hb, col0, scale, true); gpu.loraForward(dy, du, dx, da, db, col0, scale, true);
    compare(`loraForward/u/${dn}`, hu, du); compare(`loraForward/y/${dn}`, hy, dy);
    // without accumulate the window is written, the columns around it kept
    const [hyw, dyw] = pair(randn(T * width), dt, [T, width]);
    cpuBackend.loraForward(hyw, hu, hx, ha, hb, col0, scale, false); gpu.loraForward(dyw, du, dx, da, db, col0, scale, false);
    compare(`loraForward/y-written/${dn}`, hyw, dyw);
    const [hg, dg] = pair(randn(T * width), dt, [T, width]);
    const [hgx, dgx] = pair(randn(T * In), dt, [T, In]);
    const [hga, dga] = pair(randn(R * In), DType.F32, [R, In]);
    const [hgb, dgb] = pair(randn(Out * R), DType.F32, [Out, R]);
    cpuBackend.loraBackward(hgx, hga, hgb, hg, hx, hu, ha, hb, col0, scale, true); gpu.loraBackward(dgx, dga, dgb, dg, dx, du, da, db, col0, scale, true);
    compare(`loraBackward/dx/${dn}`, hgx, dgx); compare(`loraBackward/ga/${dn}`, hga, dga, { rtol: 1e-4, atol: 1e-5 });
    compare(`loraBackward/gb/${dn}`, hgb, dgb, { rtol: 1e-4, atol: 1e-5 });
    // dx written over x (the down projection's adapters write the first dh over h)
    const [hxo, dxo] = pair(hx.toFloat32(), dt, [T, In]);
    const [hgxo] = pair(new Float32Array(T * In), dt, [T, In]);
    const [hgao, dgao] = pair(new Float32Array(R * In), DType.F32, [R, In]);
    const [hgbo, dgbo] = pair(new Float32Array(Out * R), DType.F32, [Out, R]);
    cpuBackend.loraBackward(hgxo, hgao, hgbo, hg, hxo, hu, ha, hb, col0, scale, false); gpu.loraBackward(dxo, dgao, dgbo, dg, dxo, du, da, db, col0, scale, false);
    compare(`loraBackward/dx-over-x/${dn}`, hgxo, dxo); compare(`loraBackward/ga-dx-over-x/${dn}`, hgao, dgao, { rtol: 1e-4, atol: 1e-5 });
    compare(`loraBackward/gb-dx-over-x/${dn}`, hgbo, dgbo, { rtol: 1e-4, atol: 1e-5 });
  });
  check(`rope/${dn}`, () => {
    const nH = 3, D = 16, W = 5 * D, maxPos = 50;
    const [hx, dx] = pair(randn(T * W), dt, [T, W]);
    const pos = Int32Array.from({ length: T }, (_, i) => (i < 20 ? i : i - 20));  // two packed documents
    const [hp, dp] = pairInt(pos, [T]);
    const cos = new Float32Array(maxPos * D / 2), sin = new Float32Array(maxPos * D / 2);
    for (let p = 0; p < maxPos; p++) for (let j = 0; j < D / 2; j++) {
      const a = p / 10000 ** ((2 * j) / D); cos[p * D / 2 + j] = Math.cos(a); sin[p * D / 2 + j] = Math.sin(a);
    }
    const [hc, dc] = pair(cos, DType.F32, [maxPos, D / 2]);
    const [hs, ds] = pair(sin, DType.F32, [maxPos, D / 2]);
    cpuBackend.ropeForward(hx, hp, hc, hs, nH); gpu.ropeForward(dx, dp, dc, ds, nH); compare(`ropeForward/${dn}`, hx, dx);
    cpuBackend.ropeBackward(hx, hp, hc, hs, nH); gpu.ropeBackward(dx, dp, dc, ds, nH); compare(`ropeBackward/${dn}`, hx, dx);
  });
  check(`swiglu/${dn}`, () => {
    const [hgu, dgu] = pair(randn(T * 2 * F), dt, [T, 2 * F]);
    const [hh, dh] = pair(new Float32Array(T * F), dt, [T, F]);
    cpuBackend.swigluForward(hh, hgu); gpu.swigluForward(dh, dgu); compare(`swigluForward/${dn}`, hh, dh);
    const [hdh, ddh] = pair(randn(T * F), dt, [T, F]);
    const [hd, dd] = pair(new Float32Array(T * 2 * F), dt, [T, 2 * F]);
    cpuBackend.swigluBackward(hd, hdh, hgu); gpu.swigluBackward(dd, ddh, dgu); compare(`swigluBackward/${dn}`, hd, dd);
  });
  check(`dropout/${dn}`, () => {
    // the same hash on both devices: the dropped elements must be exactly the same ones
    const C = F;
    const tok = Int32Array.from({ length: 2 * T }, (_, i) => (i % 2 === 0 ? (i < T ? 3 : 17) : (i >> 1) % 29));
    const [htk, dtk] = pairInt(tok, [T, 2]);
    const key = 0xfedcba9876543210n;
    const [hr, dr] = pair(randn(T * C), dt, [T, C]);
    const [hh, dh] = pair(randn(T * C), dt, [T, C]);
    const [ho, dout] = pair(new Float32Array(T * C), dt, [T, C]);
    cpuBackend.dropoutAddForward(ho, hr, hh, { key, p: 0.25, tokens: htk }); gpu.dropoutAddForward(dout, dr, dh, { key, p: 0.25, tokens: dtk });
    compare(`dropoutAddForward/${dn}`, ho, dout);
    cpuBackend.dropoutBackward(hh, hh, { key, p: 0.25, tokens: htk }); gpu.dropoutBackward(dh, dh, { key, p: 0.25, tokens: dtk });
    compare(`dropoutBackward/${dn}`, hh, dh);
    const a = hh.toFloat32(), b = dh.toFloat32();
    let differ = 0, dropped = 0;
    for (let i = 0; i < a.length; i++) { if ((a[i] === 0) !== (b[i] === 0)) differ++; if (a[i] === 0) dropped++; }
    record(`dropout/mask/${dn}`, differ === 0 && Math.abs(dropped / a.length - 0.25) < 0.05, { differ, droppedFraction: dropped / a.length });
  });
  check(`crossEntropy/${dn}`, () => {
    for (const Vx of [211, 70000]) {  // 70000 > one block's 256 threads x many: the online merge
      const [hl, dl] = pair(randn(T * Vx, 3), dt, [T, Vx]);
      const tg = Int32Array.from({ length: T }, (_, i) => (i % 5 === 0 ? -100 : (i * 31) % Vx));
      const [ht, dtg] = pairInt(tg, [T]);
      const a = cpuBackend.crossEntropy(hl, ht, 0.8, 1 / 30, true), b = gpu.crossEntropy(dl, dtg, 0.8, 1 / 30, true);
      record(`crossEntropy/loss/V${Vx}/${dn}`, a.count === b.count && Math.abs(a.lossSum - b.lossSum) <= 1e-5 * Math.abs(a.lossSum),
        { cpu: a, cuda: b });
      compare(`crossEntropy/grad/V${Vx}/${dn}`, hl, dl, dt === DType.F32 ? { rtol: 1e-4, atol: 1e-5 } : undefined);
    }
  });
}

check('adamw', () => {
  const n = 1000;
  for (const [pn, pdt] of [['bf16', DType.BF16], ['fp32', DType.F32]]) {
    const [hm, dm] = pair(randn(n), DType.F32, [n]);
    const [hp, dp] = pair(new Float32Array(n), pdt, [n]);
    const [hg, dg] = pair(randn(n), DType.BF16, [n]);
    const [h1, d1] = pair(randn(n, 0.1), DType.F32, [n]);
    const [h2, d2] = pair(randn(n, 0.1).map(Math.abs), DType.F32, [n]);
    for (let step = 1; step <= 3; step++) {
      addon.adamwStep(hm.ptr, hp.ptr, pdt, hg.ptr, DType.BF16, h1.ptr, h2.ptr, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, step, 0.5, true);
      c.cudaAdamwStep(dm.ptr, dp.ptr, pdt, dg.ptr, DType.BF16, d1.ptr, d2.ptr, n, 1e-3, 0.9, 0.95, 1e-8, 0.1, step, 0.5, true);
    }
    compare(`adamw/master/${pn}`, hm, dm, { rtol: 1e-6, atol: 1e-7 });
    compare(`adamw/param/${pn}`, hp, dp);
    compare(`adamw/v/${pn}`, h2, d2, { rtol: 1e-6, atol: 1e-9 });
  }
});

// The same ops through the Backend interface the ZeRO engine uses (argument checks included).
check('backend-flat-ops', () => {
  const n = 999;
  const [hm, dm] = pair(randn(n), DType.F32, [n]);
  const [hp, dp] = pair(new Float32Array(n), DType.BF16, [n]);
  cpuBackend.cast(hp, hm); gpu.cast(dp, dm);
  record('backend/cast bit-exact', Buffer.compare(hp.readBytes(), dp.readBytes()) === 0, {});
  const s1 = cpuBackend.sumSquares(hp), s2 = gpu.sumSquares(dp);
  record('backend/sumSquares', Math.abs(s1 - s2) <= 1e-9 * s1, { cpu: s1, cuda: s2 });
  const [hg, dg] = pair(randn(n), DType.BF16, [n]);
  const [h1, d1] = pair(new Float32Array(n), DType.F32, [n]);
  const [h2, d2] = pair(new Float32Array(n), DType.F32, [n]);
  const scalars = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1, gradScale: 0.25, adamWMode: true };
  cpuBackend.adamw({ master: hm, paramCopy: hp, grad: hg, expAvg: h1, expAvgSq: h2 }, scalars);
  gpu.adamw({ master: dm, paramCopy: dp, grad: dg, expAvg: d1, expAvgSq: d2 }, scalars);
  compare('backend/adamw/master', hm, dm, { rtol: 1e-6, atol: 1e-7 });
  compare('backend/adamw/param', hp, dp);
  gpu.synchronize();
});

check('cast', () => {
  const n = 777, v = randn(n, 100);
  const [h32, d32] = pair(v, DType.F32, [n]);
  const [hb, db] = pair(new Float32Array(n), DType.BF16, [n]);
  addon.cast(hb.ptr, DType.BF16, h32.ptr, DType.F32, n); c.cudaCast(db.ptr, DType.BF16, d32.ptr, DType.F32, n);
  record('cast/f32->bf16 bit-exact', Buffer.compare(hb.readBytes(), db.readBytes()) === 0, {});
  const h16 = alloc(DType.F32, [n], MemCategory.Buffers, 'cuda');
  const f16 = c.cudaAlloc(2 * n, MemCategory.Buffers);
  c.cudaCast(f16, 2, d32.ptr, DType.F32, n); c.cudaCast(h16.ptr, DType.F32, f16, 2, n);
  const back = h16.toFloat32();
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(back[i] - v[i]) / Math.max(Math.abs(v[i]), 6e-5));
  record('cast/f32->fp16->f32', worst <= 2 ** -11, { worstRel: worst });  // fp16 round-to-nearest: half an ulp of 2^-10
  c.cudaFree(f16);
});

check('attention', () => {
  // [4, 2, 32] is the tiny model's attention (data/tiny-model: hidden 128, 4 heads, 2 kv heads).
  for (const [nh, nkv, D] of [[4, 2, 32], [4, 2, 64], [2, 2, 128]]) {
    const lens = [113, 203], T = 316, W = (nh + 2 * nkv) * D, shape = { nHeads: nh, nKvHeads: nkv, headDim: D, scale: 1 / Math.sqrt(D) };
    const [hq, dq] = pair(randn(T * W), DType.BF16, [T, W]);
    const [hcu, dcu] = pairInt(Int32Array.from([0, lens[0], T]), [3]);
    const [ho, dout] = pair(new Float32Array(T * nh * D), DType.BF16, [T, nh * D]);
    const [hl, dl] = pair(new Float32Array(nh * T), DType.F32, [nh, T]);
    cpuBackend.attentionForward(ho, hl, hq, hcu, shape); gpu.attentionForward(dout, dl, dq, dcu, shape);
    compareRel(`attentionForward/out/h${nh}-${nkv}-d${D}`, ho, dout, 2e-2);
    compareRel(`attentionForward/lse/h${nh}-${nkv}-d${D}`, hl, dl, 1e-4);
    const [hdo, ddo] = pair(randn(T * nh * D), DType.BF16, [T, nh * D]);
    const [hdq, ddq] = pair(new Float32Array(T * W), DType.BF16, [T, W]);
    cpuBackend.attentionBackward(hdq, hdo, ho, hl, hq, hcu, shape); gpu.attentionBackward(ddq, ddo, dout, dl, dq, dcu, shape);
    compareRel(`attentionBackward/dqkv/h${nh}-${nkv}-d${D}`, hdq, ddq, 5e-2);
    // Deterministic: a second backward gives the same bits.
    const again = alloc(DType.BF16, [T, W], MemCategory.Activations, 'cuda');
    gpu.attentionBackward(again, ddo, dout, dl, dq, dcu, shape);
    record(`attentionBackward/deterministic/h${nh}-${nkv}-d${D}`, Buffer.compare(again.readBytes(), ddq.readBytes()) === 0, {});
  }
});

if (!standin) check('allocator', () => {
  c.cudaEmptyCache();
  const before = c.cudaMemStats();
  const a = alloc(DType.BF16, [1000, 1000], MemCategory.Grads, 'cuda');  // 2,000,000 B -> 2 MiB block
  const mid = c.cudaMemStats();
  const ptr = a.ptr;
  a.writeFloat32(new Float32Array(a.numel).fill(1));  // dirty the block: reuse must still hand out zeros
  a.free();
  const b = alloc(DType.F32, [500, 1000], MemCategory.Optim, 'cuda');  // same rounded size: the cached block
  const after = c.cudaMemStats();
  record('allocator/accounting', mid.current.grads - before.current.grads === 2 * 1024 * 1024 &&
    after.current.optim - before.current.optim === 2 * 1024 * 1024 && after.current.grads === before.current.grads, { before, mid, after });
  record('allocator/reuse', b.ptr === ptr && after.reserved === mid.reserved, { reserved: [mid.reserved, after.reserved] });
  record('allocator/zero-filled', b.toFloat32().every((x) => x === 0), {});
  b.free();
  let msg = '';
  try { c.cudaFree(b.ptr); } catch (e) { msg = e.message; }
  record('allocator/double-free', msg.includes('not a live device buffer'), { msg });
});

check('host-tensor-rejected', () => {
  const h = alloc(DType.F32, [4, 4], MemCategory.Buffers);
  const d = alloc(DType.F32, [4, 4], MemCategory.Buffers, 'cuda');
  let msg = '';
  try { gpu.add(d, h, d); } catch (e) { msg = e.message; }
  record('host-tensor-rejected', msg === 'add: a is a cpu tensor; the cuda backend needs cuda tensors', { msg });
});

c.cudaSynchronize();
appendFileSync(outPath, JSON.stringify({ summary: true, failures }) + '\n');
console.log(`cuda_vs_cpu: ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
