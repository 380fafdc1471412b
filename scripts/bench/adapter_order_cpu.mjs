// CPU LoRA: one block's four frozen projections with their adapters on every module (all-linear:
// query and key_value on qkv, dense on o, gate_proj and up_proj on gate|up, down_proj on down),
// forward and backward (dX only, the adapters' gradients), in the two orders
// src/model/lora.ts can run them: the base product writes the output and the adapters add to it
// (base first), or the adapters write and the base product adds (adapters first: the library
// GEMM's accumulate, sgemm's beta = 1 or oneDNN's sum post-op). Alternating in one process, best of
// REPS each. Defaults are the bench:train model's (hidden 512, FFN 1376, 4 x 1024 tokens).
// Needs `npm run build`.
// Usage: node scripts/bench/adapter_order_cpu.mjs [T=4096] [H=512] [F=1376] [R=16] [DTYPE=fp32|bf16] [THREADS=2] [REPS=10]
import { linearBackward, linearForward, loraBackward, loraForward } from '../../dist/native/kernels.js';
import { Arena, DType, MemCategory, setNumThreads } from '../../dist/native/tensor.js';
import { parseArgs, timeVariants, timingLine } from './kernel_paths.mjs';

const { T, H, F, R, DTYPE: dtype, THREADS: threads, REPS: reps } = parseArgs([
  ['T', 4096], ['H', 512], ['F', 1376], ['R', 16], ['DTYPE', 'fp32', ['fp32', 'bf16']], ['THREADS', 2], ['REPS', 10]]);
const dt = dtype === 'bf16' ? DType.BF16 : DType.F32;
setNumThreads(threads);

const arena = new Arena(MemCategory.Activations);
const random = (shape, d = dt) => {
  const t = arena.alloc(d, shape);
  t.writeFloat32(Float32Array.from({ length: shape[0] * shape[1] }, () => Math.random() - 0.5));
  return t;
};
// [In, adapters' Outs side by side in the output]: qkv, o, gate|up, down
const projections = [[H, [H, 2 * H]], [H, [H]], [H, [F, F]], [F, [H]]].map(([In, outs]) => {
  const width = outs.reduce((a, b) => a + b, 0);
  let col0 = 0;
  const adapters = outs.map((Out) => {
    const ad = { col0, a: random([R, In]), b: random([Out, R]), ga: random([R, In], DType.F32), gb: random([Out, R], DType.F32) };
    col0 += Out;
    return ad;
  });
  return { x: random([T, In]), w: random([width, In]), y: random([T, width]), dy: random([T, width]), dx: random([T, In]), u: arena.alloc(dt, [T, R]), adapters };
});

const forward = (adaptersFirst) => () => {
  for (const p of projections) {
    if (!adaptersFirst) linearForward(p.y, p.x, p.w, null, false);
    for (const s of p.adapters) loraForward(p.y, p.u, p.x, s.a, s.b, s.col0, 2, !adaptersFirst);
    if (adaptersFirst) linearForward(p.y, p.x, p.w, null, true);
  }
};
// the backward reads u as the forward left it (the last adapter's); its values do not change the time
const backward = (adaptersFirst) => () => {
  for (const p of projections) {
    if (!adaptersFirst) linearBackward(p.dx, null, null, p.dy, p.x, p.w, false);
    p.adapters.forEach((s, i) => loraBackward(p.dx, s.ga, s.gb, p.dy, p.x, p.u, s.a, s.b, s.col0, 2, !adaptersFirst || i > 0));
    if (adaptersFirst) linearBackward(p.dx, null, null, p.dy, p.x, p.w, true);
  }
};
const best = timeVariants({
  base: { fwd: forward(false), bwd: backward(false) },
  adapters: { fwd: forward(true), bwd: backward(true) },
}, reps);
arena.freeAll();

console.log(`one block's projections and their 6 adapters, T=${T} H=${H} F=${F} r=${R} ${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(timingLine('base first', best.base, 2));
console.log(timingLine('adapters first', best.adapters, 2));
