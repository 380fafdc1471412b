// One rank of `npm run bench:zero` (ours): training steps of the [CORE] bench model under ZeRO
// stage argv[2], started by telechat-launch. The global batch is BENCH_SHAPE (4 rows of 1024
// tokens), split evenly over the ranks; fp32 (as the PyTorch side), AdamW, clipping 1.0,
// gradient reductions overlapped with backward, stage-3 prefetch on. Rank 0 prints one JSON
// line: the best step time of argv[3] timed steps (after one warm-up), and every rank's peak RSS.
import { initDistributed } from '../distributed/init.js';
import { buildHostBatch } from '../model/batch.js';
import { initRandomEntries, seededUniform } from '../model/init.js';
import { parseModelSpec } from '../model/spec.js';
import { cpuBackend } from '../native/cpu_backend.js';
import { DType, setNumThreads } from '../native/tensor.js';
import { unitOf } from '../zero/partition.js';
import { ZeroEngine, type ZeroStage } from '../zero/zero_engine.js';
import { BENCH_CONFIG, BENCH_SHAPE } from './core_config.js';

const stage = Number(process.argv[2]) as ZeroStage;
const steps = Number(process.argv[3] ?? 2);
setNumThreads(Number(process.env.OMP_NUM_THREADS ?? 1));
const group = initDistributed();
const { rank, size } = group.world;
const spec = parseModelSpec(BENCH_CONFIG);
const { batch, seqLen } = BENCH_SHAPE;
if (batch % size !== 0) throw new Error(`bench:zero: ${batch} rows do not split over ${size} ranks`);
const perRank = batch / size;

const engine = new ZeroEngine({
  stage, comm: group.world, spec, be: cpuBackend,
  model: { dtype: DType.F32, gradDtype: DType.F32, maxTokens: perRank * seqLen, maxSeqLen: seqLen, recompute: false },
  hyper: { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.01, adamWMode: true }, noDecay: ['norm', 'bias'],
  overlapComm: true, prefetch: true, persistenceThreshold: 10 * spec.hidden, // HF's "auto"
});
const uniform = seededUniform(1);
engine.initParams((views, unit) => initRandomEntries(views, engine.table.entries.filter((e) => unitOf(engine.table, e.name) === unit), 0.02, uniform));

// the same token pattern as bench:core and the PyTorch side: row r of the global batch
const rows = Array.from({ length: perRank }, (_, j) => {
  const r = rank * perRank + j;
  const ids = Array.from({ length: seqLen }, (_, i) => (r * 7919 + i * 104729) % spec.vocab);
  return { inputIds: ids, labels: ids, docLens: [seqLen] };
});
const hostBatch = buildHostBatch(rows);

let best = Infinity;
for (let s = 0; s <= steps; s++) {
  group.world.barrier();
  const t0 = process.hrtime.bigint();
  const labelTokens = engine.allReduceSum(hostBatch.labelCount);
  const loss = engine.microStep(hostBatch, 1 / labelTokens, true);
  engine.allReduceSum(loss.lossSum);
  engine.step({ step: s + 1, lr: 1e-4, maxGradNorm: 1, lossScale: 1 });
  group.world.barrier();
  if (s > 0) best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9); // step 0 warms up
}
// every rank's peak RSS, gathered on rank 0 through one sum per rank
const rssMb: number[] = [];
for (let r = 0; r < size; r++) rssMb.push(engine.allReduceSum(r === rank ? process.resourceUsage().maxRSS / 1024 : 0));
engine.free();
if (rank === 0) {
  process.stdout.write(JSON.stringify({ side: `telechat-train zero${stage}`, ranks: size, step_s: best, tokens_per_s: (batch * seqLen) / best, peak_rss_mb: rssMb }) + '\n');
}
group.destroy();
