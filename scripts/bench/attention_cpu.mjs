// CPU attention forward+backward time vs naive PyTorch (scripts/bench/attention_torch.py),
// one document, fp32, best of REPS. Needs `npm run build`.
// Usage: node scripts/bench/attention_cpu.mjs [T=1024] [NH=8] [D=64] [THREADS=2] [REPS=10]
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attentionBackward, attentionForward } from '../../dist/native/attention.js';
import { Arena, DType, INT32, MemCategory, setNumThreads } from '../../dist/native/tensor.js';

const [T, nh, D, threads, reps] = [1024, 8, 64, 2, 10].map((d, i) => Number(process.argv[2 + i] ?? d));
setNumThreads(threads);
const arena = new Arena(MemCategory.Activations);
const row = 3 * nh * D;
const qkv = arena.alloc(DType.F32, [T, row]), dqkv = arena.alloc(DType.F32, [T, row]);
const out = arena.alloc(DType.F32, [T, nh * D]), dout = arena.alloc(DType.F32, [T, nh * D]);
const lse = arena.alloc(DType.F32, [nh, T]), cu = arena.alloc(INT32, [2]);
qkv.writeFloat32(Float32Array.from({ length: T * row }, () => Math.random() * 2 - 1));
dout.writeFloat32(Float32Array.from({ length: T * nh * D }, () => Math.random() * 2 - 1));
cu.writeInt32(Int32Array.from([0, T]));
const opts = { nHeads: nh, nKvHeads: nh, headDim: D, scale: 1 / Math.sqrt(D) };
let fwd = Infinity, bwd = Infinity;
for (let i = 0; i < reps; i++) {
  const t0 = performance.now();
  attentionForward(out, lse, qkv, cu, opts);
  const t1 = performance.now();
  attentionBackward(dqkv, dout, out, lse, qkv, cu, opts);
  const t2 = performance.now();
  fwd = Math.min(fwd, t1 - t0);
  bwd = Math.min(bwd, t2 - t1);
}
arena.freeAll();
const script = join(dirname(fileURLToPath(import.meta.url)), 'attention_torch.py');
const [tf, tb] = execFileSync('/usr/bin/python3', [script, ...[T, nh, D, threads, reps].map(String)])
  .toString().trim().split(' ').map(Number);
console.log(`T=${T} nh=${nh} D=${D} fp32 threads=${threads}, best of ${reps} (ms):`);
console.log(`  ours        fwd ${fwd.toFixed(1)}  bwd ${bwd.toFixed(1)}  total ${(fwd + bwd).toFixed(1)}`);
console.log(`  torch naive fwd ${tf.toFixed(1)}  bwd ${tb.toFixed(1)}  total ${(tf + tb).toFixed(1)}`);
console.log(`  speed-up ${((tf + tb) / (fwd + bwd)).toFixed(2)}x`);
