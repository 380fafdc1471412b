// CPU LoRA adapter products: one block's six adapters (query, key_value, dense, gate_proj,
// up_proj, down_proj) forward and backward, on the register tiles against the library GEMMs
// (TELECHAT_CPU_LORA_TILES=gemm: OpenBLAS, or oneDNN for bf16 where the CPU has it), alternating,
// best of REPS each. Defaults are the bench:train model's (hidden 512, FFN 1376, 4 x 1024 tokens).
// Needs `npm run build`.
// Usage: node scripts/bench/lora_cpu.mjs [T=4096] [H=512] [F=1376] [R=16] [DTYPE=fp32|bf16] [THREADS=2] [REPS=10]
import { cpuLoraTilePath, loraBackward, loraForward } from '../../dist/native/kernels.js';
import { Arena, DType, MemCategory, setNumThreads } from '../../dist/native/tensor.js';

const [T, H, F, R] = [4096, 512, 1376, 16].map((d, i) => Number(process.argv[2 + i] ?? d));
const dtype = process.argv[6] ?? 'fp32';
const [threads, reps] = [2, 10].map((d, i) => Number(process.argv[7 + i] ?? d));
if (dtype !== 'fp32' && dtype !== 'bf16') throw new Error(`DTYPE must be fp32 or bf16, got ${dtype}`);
for (const [name, v] of Object.entries({ T, H, F, R, THREADS: threads, REPS: reps })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
}
const dt = dtype === 'bf16' ? DType.BF16 : DType.F32;
setNumThreads(threads);

const arena = new Arena(MemCategory.Activations);
const random = (shape) => {
  const t = arena.alloc(dt, shape);
  t.writeFloat32(Float32Array.from({ length: shape[0] * shape[1] }, () => Math.random() - 0.5));
  return t;
};
// [In, Out] of each adapter
const adapters = [[H, H], [H, 2 * H], [H, H], [H, F], [H, F], [F, H]].map(([In, Out]) => ({
  x: random([T, In]), y: random([T, Out]), dy: random([T, Out]), dx: random([T, In]), u: arena.alloc(dt, [T, R]),
  a: random([R, In]), b: random([Out, R]), ga: arena.alloc(DType.F32, [R, In]), gb: arena.alloc(DType.F32, [Out, R]),
}));

const best = { tiles: { fwd: Infinity, bwd: Infinity }, gemm: { fwd: Infinity, bwd: Infinity } };
let tilePath = '';
for (let i = 0; i < reps; i++) {
  for (const path of ['tiles', 'gemm']) {
    process.env.TELECHAT_CPU_LORA_TILES = path === 'tiles' ? 'auto' : 'gemm';
    if (path === 'tiles') tilePath = cpuLoraTilePath();
    const t0 = performance.now();
    for (const s of adapters) loraForward(s.y, s.u, s.x, s.a, s.b, 0, 2);
    const t1 = performance.now();
    for (const s of adapters) loraBackward(s.dx, s.ga, s.gb, s.dy, s.x, s.u, s.a, s.b, 0, 2, true);
    const t2 = performance.now();
    best[path].fwd = Math.min(best[path].fwd, t1 - t0);
    best[path].bwd = Math.min(best[path].bwd, t2 - t1);
  }
}
arena.freeAll();
const line = (name, b) => `  ${name.padEnd(13)} fwd ${b.fwd.toFixed(2)}  bwd ${b.bwd.toFixed(2)}  total ${(b.fwd + b.bwd).toFixed(2)}`;
console.log(`6 adapters, T=${T} H=${H} F=${F} r=${R} ${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(line('tiles', best.tiles) + `  (${tilePath})`);
console.log(line('library GEMM', best.gemm));
console.log(`  speed-up ${((best.gemm.fwd + best.gemm.bwd) / (best.tiles.fwd + best.tiles.bwd)).toFixed(2)}x`);
