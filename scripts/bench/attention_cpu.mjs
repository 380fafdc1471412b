// CPU attention forward+backward time, one document, best of REPS: ours on the register tiles
// (TELECHAT_CPU_ATTN_TILES=auto) against ours on sgemm per tile (=sgemm), alternating in one
// process, and for fp32 against naive PyTorch (scripts/bench/attention_torch.py). bf16 and fp16
// storage time only our two paths (the PyTorch script is fp32). Needs `npm run build`.
// Usage: node scripts/bench/attention_cpu.mjs [T=1024] [NH=8] [D=64] [THREADS=2] [REPS=10] [DTYPE=fp32|bf16|fp16]
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attentionBackward, attentionForward } from '../../dist/native/attention.js';
import { cpuAttentionTilePath } from '../../dist/native/kernels.js';
import { Arena, DType, INT32, MemCategory, setNumThreads } from '../../dist/native/tensor.js';

if (process.argv.length > 8) throw new Error(`at most 6 arguments (T NH D THREADS REPS DTYPE), got ${process.argv.length - 2}`);
const [T, nh, D, threads, reps] = [1024, 8, 64, 2, 10].map((d, i) => Number(process.argv[2 + i] ?? d));
for (const [name, v] of Object.entries({ T, NH: nh, D, THREADS: threads, REPS: reps })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
}
const dtypes = { fp32: DType.F32, bf16: DType.BF16, fp16: DType.F16 };
const dtype = process.argv[7] ?? 'fp32';
if (!Object.hasOwn(dtypes, dtype)) throw new Error(`DTYPE must be fp32, bf16 or fp16, got ${dtype}`);
const dt = dtypes[dtype];
if (process.env.TELECHAT_CPU_ATTN_TILES !== undefined) throw new Error('unset TELECHAT_CPU_ATTN_TILES: this script sets it per path');
setNumThreads(threads);

const arena = new Arena(MemCategory.Activations);
const row = 3 * nh * D;
const qkv = arena.alloc(dt, [T, row]), dqkv = arena.alloc(dt, [T, row]);
const out = arena.alloc(dt, [T, nh * D]), dout = arena.alloc(dt, [T, nh * D]);
const lse = arena.alloc(DType.F32, [nh, T]), cu = arena.alloc(INT32, [2]);
qkv.writeFloat32(Float32Array.from({ length: T * row }, () => Math.random() * 2 - 1));
dout.writeFloat32(Float32Array.from({ length: T * nh * D }, () => Math.random() * 2 - 1));
cu.writeInt32(Int32Array.from([0, T]));
const opts = { nHeads: nh, nKvHeads: nh, headDim: D, scale: 1 / Math.sqrt(D) };

// best forward and backward ms per path; the kernels read TELECHAT_CPU_ATTN_TILES on every call
const paths = ['auto', 'sgemm'];
const best = Object.fromEntries(paths.map((p) => [p, { fwd: Infinity, bwd: Infinity }]));
let tilePath = '';
for (const p of paths) { // untimed first call per path (scratch, code pages)
  process.env.TELECHAT_CPU_ATTN_TILES = p;
  attentionForward(out, lse, qkv, cu, opts);
  attentionBackward(dqkv, dout, out, lse, qkv, cu, opts);
}
for (let i = 0; i < reps; i++) {
  for (const p of i % 2 === 0 ? paths : [...paths].reverse()) {
    process.env.TELECHAT_CPU_ATTN_TILES = p;
    if (p === 'auto') tilePath = cpuAttentionTilePath();
    const t0 = performance.now();
    attentionForward(out, lse, qkv, cu, opts);
    const t1 = performance.now();
    attentionBackward(dqkv, dout, out, lse, qkv, cu, opts);
    const t2 = performance.now();
    best[p].fwd = Math.min(best[p].fwd, t1 - t0);
    best[p].bwd = Math.min(best[p].bwd, t2 - t1);
  }
}
delete process.env.TELECHAT_CPU_ATTN_TILES;
arena.freeAll();

const line = (label, { fwd, bwd }) => `  ${label.padEnd(12)}fwd ${fwd.toFixed(1)}  bwd ${bwd.toFixed(1)}  total ${(fwd + bwd).toFixed(1)}`;
const total = ({ fwd, bwd }) => fwd + bwd;
console.log(`T=${T} nh=${nh} D=${D} ${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(`${line('ours tiles', best.auto)}  (${D % 16 === 0 ? tilePath : 'D is not a multiple of 16: sgemm too'})`);
console.log(line('ours sgemm', best.sgemm));
console.log(`  tiles vs sgemm ${(total(best.sgemm) / total(best.auto)).toFixed(2)}x`);
if (dtype === 'fp32') {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'attention_torch.py');
  const [fwd, bwd] = execFileSync('/usr/bin/python3', [script, ...[T, nh, D, threads, reps].map(String)])
    .toString().trim().split(' ').map(Number);
  console.log(line('torch naive', { fwd, bwd }));
  console.log(`  ours (tiles) vs torch ${((fwd + bwd) / total(best.auto)).toFixed(2)}x`);
}
