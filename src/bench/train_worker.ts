// One run of our side of `npm run bench:train`: N full training steps of the [CORE] bench model
// through the trainer's own path, a ZeroEngine (stage 0) at world size 1 with AdamW: forward,
// backward, global-norm clipping and the optimizer update, exactly as src/train/trainer.ts
// drives it per step. bench:train times this whole process from outside (a long run minus a
// short one), so start-up, initialisation and warm-up cancel.
//
// Usage: node dist/bench/train_worker.js fp32|bf16 STEPS [EVAL_STEPS] [lora]
// EVAL_STEPS > 0 then also times that many evaluation forwards (engine.evalLoss, what the
// trainer's evaluation runs) of the same batch after training and one untimed warm-up evaluation:
// eval_s_in_process (median), against step_s_in_process, the median of the steps after the first.
// Both are medians of steady-state calls: a warm-up call among them inflated the step (the upper
// middle of 4 steps with the warm-up one is the slowest steady step) and so shrank the ratio.
// lora: LoRA r = BENCH_LORA_R on every block projection over the frozen base, as a run with a
// `lora` section trains (src/train/lora_run.ts); A and B random (the timing does not depend on them).
// Prints one JSON line: steps, in-process median step time (informational), peak RSS, CPU seconds, last loss,
// and with TELECHAT_PROFILE=1 the per-op profile of the steps after the first (src/native/profile.ts).
import { initDistributed } from '../distributed/init.js';
import { initRandomEntries, seededUniform } from '../model/init.js';
import { buildHostBatch } from '../model/batch.js';
import { loraTargets } from '../model/lora.js';
import { parseModelSpec } from '../model/spec.js';
import { cpuBackend } from '../native/cpu_backend.js';
import { profile } from '../native/profile.js';
import { DType, setNumThreads } from '../native/tensor.js';
import { ZeroEngine } from '../zero/zero_engine.js';
import { BENCH_CONFIG, BENCH_LORA_R, BENCH_SHAPE, TRAIN_HYPER } from './core_config.js';
import { median, medianAfterWarmup } from './stats.js';

function main(): void {
  const precision = process.argv[2];
  const steps = Number(process.argv[3]);
  if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`precision must be fp32 or bf16, got ${precision}`);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`STEPS must be a positive integer, got ${process.argv[3]}`);
  const extra = process.argv.slice(4);
  const lora = extra.includes('lora');
  const evalArgs = extra.filter((a) => a !== 'lora');
  if (evalArgs.length > 1 || (evalArgs.length === 1 && !/^\d+$/.test(evalArgs[0]!))) throw new Error(`after STEPS come EVAL_STEPS and/or "lora", got ${extra.join(' ')}`);
  const evalSteps = Number(evalArgs[0] ?? 0);
  if (evalSteps > 0 && steps < 2) throw new Error('EVAL_STEPS needs STEPS >= 2: the step time it is compared with is the median after the warm-up step');
  setNumThreads(Number(process.env.OMP_NUM_THREADS ?? 2));
  const spec = parseModelSpec(BENCH_CONFIG);
  const { batch, seqLen } = BENCH_SHAPE;
  // a clean environment: one process, whatever launcher variables the caller has
  const group = initDistributed({ env: {} });
  const engine = new ZeroEngine({
    stage: 0,
    comm: group.world,
    spec,
    be: cpuBackend,
    // bf16 like the trainer's bf16 block: bf16 params and activations, fp32 gradient
    // accumulators, fp32 master weights and moments (inside ShardAdamW)
    model: {
      dtype: precision === 'bf16' ? DType.BF16 : DType.F32, gradDtype: DType.F32, maxTokens: batch * seqLen, maxSeqLen: seqLen, recompute: false,
      ...(lora ? { lora: { targets: loraTargets(spec, { targetModules: ['all-linear'] }), r: BENCH_LORA_R, scale: 2, dropout: 0 } } : {}),
    },
    hyper: { betas: TRAIN_HYPER.betas, eps: TRAIN_HYPER.eps, weightDecay: TRAIN_HYPER.weight_decay, adamWMode: true },
    noDecay: ['norm', 'bias'],
    overlapComm: false,
    prefetch: false,
    persistenceThreshold: 0,
  });
  const uniform = seededUniform(1);
  const init = (table: typeof engine.table) => (views: Parameters<Parameters<typeof engine.initParams>[0]>[0], unit: { start: number; end: number }) =>
    initRandomEntries(views, table.entries.filter((e) => e.offset >= unit.start && e.offset < unit.end), spec.initializerRange, uniform);
  if (engine.baseTable) engine.initBase(init(engine.baseTable));
  engine.initParams(init(engine.table));
  // the same token ids as scripts/bench/core_torch.py: full 1024-token rows, every token labelled
  const rows = Array.from({ length: batch }, (_, r) => {
    const ids = Array.from({ length: seqLen }, (_, i) => (r * 7919 + i * 104729) % spec.vocab);
    return { inputIds: ids, labels: ids, docLens: [seqLen] };
  });
  const host = buildHostBatch(rows);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  const cpuNow = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let loss = NaN;
  for (let step = 1; step <= steps; step++) {
    const t0 = process.hrtime.bigint();
    const c0 = cpuNow();
    const res = engine.microStep(host, 1 / host.labelCount, true);
    engine.step({ step, lr: TRAIN_HYPER.lr, maxGradNorm: TRAIN_HYPER.clip, lossScale: 1 });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    cpuTimes.push(cpuNow() - c0);
    loss = res.lossSum / res.count;
    // with TELECHAT_PROFILE on, the profile covers the steps after the warm-up step
    if (step === 1 && steps > 1) profile?.reset();
  }
  const profileRows = profile?.rows(); // before teardown: the rows cover the timed steps only
  const evalTimes: number[] = [];
  const evalCpu: number[] = [];
  if (evalSteps > 0) engine.evalLoss(host); // warm-up: the evaluation path's first call
  for (let i = 0; i < evalSteps; i++) {
    const t0 = process.hrtime.bigint();
    const c0 = cpuNow();
    engine.evalLoss(host);
    evalTimes.push(Number(process.hrtime.bigint() - t0) / 1e9);
    evalCpu.push(cpuNow() - c0);
  }
  engine.free();
  group.destroy();
  const wallAfterFirst = times.slice(1).reduce((a, b) => a + b, 0);
  process.stdout.write(JSON.stringify({
    side: `telechat-train-${precision}${lora ? '-lora' : ''}`,
    steps,
    step_s_in_process: steps > 1 ? medianAfterWarmup(times) : times[0],
    step_s_samples_in_process: times,
    ...(evalSteps > 0 ? {
      eval_s_in_process: median(evalTimes), eval_cpu_s_in_process: median(evalCpu), step_cpu_s_in_process: medianAfterWarmup(cpuTimes),
      eval_s_samples_in_process: evalTimes,
    } : {}),
    last_loss: loss,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    cpu_s: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    ...(profile ? { profile: { steps: steps > 1 ? steps - 1 : 1, step_wall_s: steps > 1 ? wallAfterFirst : times[0], rows: profileRows ?? [] } } : {}),
  }) + '\n');
}

main();
