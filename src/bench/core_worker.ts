// One side of `npm run bench:core`: forward+backward of the bench model on this machine's
// CPU backend. Prints one JSON line: tokens/s, FLOP/s, sgemm FLOP/s, the steps' peak RSS.
import { TelechatModel } from '../model/model.js';
import { initRandom } from '../model/init.js';
import { parseModelSpec } from '../model/spec.js';
import { cpuBackend } from '../native/cpu_backend.js';
import { DType, setNumThreads } from '../native/tensor.js';
import { BENCH_CONFIG, BENCH_SHAPE, trainingFlopsPerStep } from './core_config.js';
import { measureSgemm } from './sgemm.js';

function main(): void {
  const iters = Number(process.argv[2] ?? 5);
  const threads = Number(process.env.OMP_NUM_THREADS ?? 2);
  setNumThreads(threads);
  const spec = parseModelSpec(BENCH_CONFIG);
  const { batch, seqLen } = BENCH_SHAPE;
  const tokens = batch * seqLen;
  const model = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: tokens, maxSeqLen: seqLen, recompute: false, logitsChunk: 1024 });
  initRandom(model.params, 0.02, 1);
  const rows = Array.from({ length: batch }, (_, r) => {
    const ids = Array.from({ length: seqLen }, (_, i) => (r * 7919 + i * 104729) % spec.vocab);
    return { inputIds: ids, labels: ids, docLens: [seqLen] };
  });
  model.zeroGrads();
  model.forwardBackward(rows); // warm-up
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    model.forwardBackward(rows);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const flops = trainingFlopsPerStep(spec, batch, seqLen);
  // the step's peak, before the sgemm yardstick's three 2048 x 2048 matrices (48 MB) add to it:
  // the PyTorch side has no yardstick, so its peak is its step's too
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const sgemm = measureSgemm();
  model.free();
  const result = {
    side: 'telechat-train',
    threads,
    step_s: median,
    tokens_per_s: tokens / median,
    gflops: flops / median / 1e9,
    sgemm_gflops: sgemm / 1e9,
    peak_rss_mb: peakRssMb,
    peak_rss_with_sgemm_mb: process.resourceUsage().maxRSS / 1024, // informational: the process after the yardstick
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main();
