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
import { parseArgs, timePaths, timingLine } from './kernel_paths.mjs';

const { T, NH: nh, D, THREADS: threads, REPS: reps, DTYPE: dtype } = parseArgs([
  ['T', 1024], ['NH', 8], ['D', 64], ['THREADS', 2], ['REPS', 10], ['DTYPE', 'fp32', ['fp32', 'bf16', 'fp16']]]);
const dt = { fp32: DType.F32, bf16: DType.BF16, fp16: DType.F16 }[dtype];
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

const { best, text } = timePaths('TELECHAT_CPU_ATTN_TILES', ['auto', 'sgemm'], reps, {
  fwd: () => attentionForward(out, lse, qkv, cu, opts),
  bwd: () => attentionBackward(dqkv, dout, out, lse, qkv, cu, opts),
}, cpuAttentionTilePath);
arena.freeAll();

const total = ({ fwd, bwd }) => fwd + bwd;
console.log(`T=${T} nh=${nh} D=${D} ${dtype} threads=${threads}, best of ${reps} (ms):`);
console.log(`${timingLine('ours tiles', best.auto)}  (${D % 16 === 0 ? text.auto : 'D is not a multiple of 16: sgemm too'})`);
console.log(timingLine('ours sgemm', best.sgemm));
console.log(`  tiles vs sgemm ${(total(best.sgemm) / total(best.auto)).toFixed(2)}x`);
if (dtype === 'fp32') {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'attention_torch.py');
  const [fwd, bwd] = execFileSync('/usr/bin/python3', [script, ...[T, nh, D, threads, reps].map(String)])
    .toString().trim().split(' ').map(Number);
  console.log(timingLine('torch naive', { fwd, bwd }));
  console.log(`  ours (tiles) vs torch ${((fwd + bwd) / total(best.auto)).toFixed(2)}x`);
}
