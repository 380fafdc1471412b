// CPU LoRA adapter products: one block's six adapters (query, key_value, dense, gate_proj,
// up_proj, down_proj) forward and backward, on the register tiles against the library GEMMs
// (TELECHAT_CPU_LORA_TILES=gemm: OpenBLAS, or oneDNN for bf16 where the CPU has it), alternating
// in one process, best of REPS each. Defaults are the bench:train model's (hidden 512, FFN 1376,
// 4 x 1024 tokens). Needs `npm run build`.
// Usage: node scripts/bench/lora_cpu.mjs [T=4096] [H=512] [F=1376] [R=16] [DTYPE=fp32|bf16] [THREADS=2] [REPS=10]
import { cpuLoraTilePath, loraBackward, loraForward } from '../../dist/native/kernels.js';
import { Arena, DType, MemCategory, setNumThreads } from '../../dist/native/tensor.js';
import { parseArgs, timePaths, timingLine } from './kernel_paths.mjs';

const { T, H, F, R, DTYPE: dtype, THREADS: threads, REPS: reps } = parseArgs([
  ['T', 4096], ['H', 512], ['F', 1376], ['R', 16], ['DTYPE', 'fp32', ['fp32', 'bf16']], ['THREADS', 2], ['REPS', 10]]);
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

const { best, text } = timePaths('TELECHAT_CPU_LORA_TILES', ['auto', 'gemm'], reps, {
  fwd: () => { for (const s of adapters) loraForward(s.y, s.u, s.x, s.a, s.b, 0, 2, true); },
  bwd: () => { for (const s of adapters) loraBackward(s.dx, s.ga, s.gb, s.dy, s.x, s.u, s.a, s.b, 0, 2, true); },
}, cpuLoraTilePath);
arena.freeAll();

const total = ({ fwd, bwd }) => fwd + bwd;
console.log(`6 adapters, T=${T} H=${H} F=${F} r=${R} ${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(`${timingLine('tiles', best.auto, 2)}  (${text.auto})`);
console.log(timingLine('library GEMM', best.gemm, 2));
console.log(`  speed-up ${(total(best.gemm) / total(best.auto)).toFixed(2)}x`);
