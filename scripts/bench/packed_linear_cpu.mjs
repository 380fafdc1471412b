// bf16 linearForward with the weight as it is against the weight packed once (packLinearWeight,
// what a LoRA run does with its frozen base: src/model/frozen_packs.ts), on the bench:train
// model's forward products: x [T, In] times W [Out, In]^T for the block's four projections and
// the LM head. Alternating in one process, best of REPS each; prints GFLOP/s per shape and the
// whole forward's milliseconds. Needs `npm run build` and a CPU whose bf16 products run on oneDNN.
// Usage: node scripts/bench/packed_linear_cpu.mjs [T=4096] [THREADS=2] [REPS=15]
import { cpuBf16GemmPath, linearForward, packLinearWeight } from '../../dist/native/kernels.js';
import { Arena, DType, MemCategory, setNumThreads } from '../../dist/native/tensor.js';
import { BENCH_CONFIG } from '../../dist/bench/core_config.js';
import { parseArgs } from './kernel_paths.mjs';

const { T, THREADS: threads, REPS: reps } = parseArgs([['T', 4096], ['THREADS', 2], ['REPS', 15]]);
setNumThreads(threads);
const path = cpuBf16GemmPath();
if (!path.startsWith('onednn ')) throw new Error(`bf16 products do not run on oneDNN here (${path}): nothing is packed`);

const H = BENCH_CONFIG.hidden_size;
const F = BENCH_CONFIG.ffn_hidden_size;
// [name, In, Out]: query|key_value (qkv), dense, gate|up, down, the LM head
const shapes = [['qkv', H, 3 * H], ['dense', H, H], ['gate_up', H, 2 * F], ['down', F, H], ['lm_head', H, BENCH_CONFIG.vocab_size]];
const arena = new Arena(MemCategory.Activations);
const random = (shape) => {
  const t = arena.alloc(DType.BF16, shape);
  t.writeFloat32(Float32Array.from({ length: shape[0] * shape[1] }, () => Math.random() - 0.5));
  return t;
};
const cases = shapes.map(([name, In, Out]) => {
  const w = random([Out, In]);
  return { name, In, Out, x: random([T, In]), w, y: arena.alloc(DType.BF16, [T, Out]), packed: packLinearWeight(w, MemCategory.Buffers) };
});

const best = cases.map(() => ({ plain: Infinity, packed: Infinity }));
const time = (c, packed) => {
  const t0 = performance.now();
  linearForward(c.y, c.x, c.w, null, packed ? c.packed : null);
  return performance.now() - t0;
};
cases.forEach((c) => (time(c, false), time(c, true))); // untimed: primitive creation, scratch
for (let i = 0; i < reps; i++) {
  cases.forEach((c, j) => {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const packed of order) {
      const ms = time(c, packed);
      const key = packed ? 'packed' : 'plain';
      best[j][key] = Math.min(best[j][key], ms);
    }
  });
}
const gflops = (c, ms) => ((2 * T * c.In * c.Out) / (ms * 1e6)).toFixed(0);
console.log(`bf16 linearForward, T=${T}, threads=${threads}, best of ${reps} (${path}):`);
cases.forEach((c, j) => {
  const { plain, packed } = best[j];
  console.log(`  ${c.name.padEnd(8)} [${c.Out}, ${c.In}]  plain ${plain.toFixed(2)} ms (${gflops(c, plain)} GFLOP/s)  packed ${packed.toFixed(2)} ms (${gflops(c, packed)} GFLOP/s)`);
});
const layers = BENCH_CONFIG.n_layer;
const step = (key) => cases.reduce((s, c, j) => s + best[j][key] * (c.name === 'lm_head' ? 1 : layers), 0);
console.log(`  one forward of the ${layers}-layer model: plain ${step('plain').toFixed(1)} ms, packed ${step('packed').toFixed(1)} ms`);
arena.freeAll();
for (const c of cases) c.packed.free();
