// CPU row kernels of the training step besides attention: SwiGLU forward and backward over [T, 2F]
// and the fused cross-entropy (with its gradient) over ROWS rows of V logits, best of REPS each.
// Defaults are the bench:train model's (4 x 1024 tokens, FFN 1376, vocab 8192; the LM head's
// logits come in chunks, 1024 rows here). Run it on two builds to compare them. Needs `npm run build`.
// Usage: node scripts/bench/rows_cpu.mjs [T=4096] [F=1376] [ROWS=1024] [V=8192] [THREADS=2] [REPS=30] [DTYPE=bf16|fp32]
import { cast, crossEntropy, swigluBackward, swigluForward } from '../../dist/native/kernels.js';
import { Arena, DType, INT32, MemCategory, setNumThreads } from '../../dist/native/tensor.js';
import { parseArgs } from './kernel_paths.mjs';

const { T, F, ROWS: rows, V, THREADS: threads, REPS: reps, DTYPE: dtype } = parseArgs([
  ['T', 4096], ['F', 1376], ['ROWS', 1024], ['V', 8192], ['THREADS', 2], ['REPS', 30], ['DTYPE', 'bf16', ['bf16', 'fp32']]]);
const dt = dtype === 'bf16' ? DType.BF16 : DType.F32;
setNumThreads(threads);

const arena = new Arena(MemCategory.Activations);
// deterministic values: gates over [-2, 2), logits over [-5, 5)
const filled = (shape, lo, span) => {
  const t = arena.alloc(dt, shape);
  const n = shape[0] * shape[1];
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = lo + span * (((i * 2654435761) % 1000) / 1000);
  t.writeFloat32(f);
  return t;
};
const gu = filled([T, 2 * F], -2, 4), dh = filled([T, F], -1, 2), h = arena.alloc(dt, [T, F]), dgu = arena.alloc(dt, [T, 2 * F]);
const source = filled([rows, V], -5, 10), logits = arena.alloc(dt, [rows, V]), targets = arena.alloc(INT32, [rows]);
targets.writeInt32(Int32Array.from({ length: rows }, (_, i) => (i * 7919) % V));

const best = (run, before = () => {}) => {
  let ms = Infinity;
  for (let i = 0; i <= reps; i++) {
    before();
    const t0 = performance.now();
    run();
    if (i > 0) ms = Math.min(ms, performance.now() - t0); // the first call warms up
  }
  return ms;
};
const fwd = best(() => swigluForward(h, gu));
const bwd = best(() => swigluBackward(dgu, dh, gu));
// the gradient is written over the logits: each call starts from the same logits
const ce = best(() => crossEntropy(logits, targets, { writeGrad: true }), () => cast(logits, source));
arena.freeAll();

console.log(`${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(`  swigluForward  [${T}, 2 x ${F}]  ${fwd.toFixed(2)}`);
console.log(`  swigluBackward [${T}, 2 x ${F}]  ${bwd.toFixed(2)}`);
console.log(`  crossEntropy   [${rows}, ${V}] with its gradient  ${ce.toFixed(2)}`);
