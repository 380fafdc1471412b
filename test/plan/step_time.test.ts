// Step-time inputs against the engine: the communication volume the planner assumes equals
// what the ZeRO engine sends (counted by CountingCommunicator over the stand-in communicator
// of test/plan/standin_comm.ts), and the FLOPs follow src/train/flops.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CountingCommunicator } from '../../src/distributed/counting.js';
import { buildHostBatch } from '../../src/model/batch.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType, setNumThreads } from '../../src/native/tensor.js';
import { commBytes, microBatchFlops, planStepTime } from '../../src/plan/step_time.js';
import { trainingFlops } from '../../src/train/flops.js';
import { ZeroEngine, type ZeroStage } from '../../src/zero/zero_engine.js';
import { StandInCommunicator } from './standin_comm.js';

setNumThreads(1);
const SPEC = parseModelSpec(JSON.parse(readFileSync('data/tiny-model/config.json', 'utf8')));

describe('communication volume per step', () => {
  it.each([
    [0, 4, 1],
    [1, 4, 1],
    [2, 4, 2],
    [3, 4, 2],
    [3, 3, 1],
  ] as const)('stage %i on %i ranks, accumulation %i: planned bytes = counted elements x 4 x (N-1)/N', (stage, ranks, accum) => {
    const comm = new CountingCommunicator(new StandInCommunicator(ranks, cpuBackend));
    const engine = new ZeroEngine({
      stage: stage as ZeroStage, comm, spec: SPEC, be: cpuBackend,
      model: { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: 64, recompute: false },
      hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamWMode: true }, noDecay: ['norm', 'bias'],
      overlapComm: false, prefetch: true, persistenceThreshold: 0,
    });
    engine.initParams(() => {});
    const ids = Array.from({ length: 64 }, (_, i) => (i * 13 + 1) % SPEC.vocab);
    const batch = buildHostBatch([{ inputIds: ids, labels: ids, docLens: [64] }]);
    comm.reset();
    for (let m = 0; m < accum; m++) engine.microStep(batch, 1 / batch.labelCount, m === accum - 1);
    engine.step({ step: 1, lr: 1e-3, maxGradNorm: 1, lossScale: 1 });
    const v = comm.volume;
    // the step's 2-element sums (gradient norm) are not planned
    const counted = v.allReduce + v.reduceScatter + v.allGather - (stage > 0 ? 2 * 2 : 0);
    engine.free();
    const planned = commBytes({ spec: SPEC, worldSize: ranks, stage: stage as ZeroStage, gradAccumSteps: accum, precision: 'fp32', gradAccumDtype: 'fp32', lora: null, persistenceThreshold: 0 });
    expect(planned).toBeCloseTo((counted * 4 * (ranks - 1)) / ranks, 6);
  });
});

describe('FLOPs', () => {
  it('model FLOPs equal src/train/flops.ts; recompute adds one forward of the blocks', () => {
    const [model, executed] = microBatchFlops(SPEC, 3, 100, false, null);
    expect(model).toBe(trainingFlops(SPEC, [100, 100, 100]));
    expect(executed).toBe(model);
    const [, withRecompute] = microBatchFlops(SPEC, 3, 100, true, null);
    const blockParams = SPEC.nLayers * (SPEC.hidden * (SPEC.nHeads + 2 * SPEC.nKvHeads) * SPEC.headDim + SPEC.nHeads * SPEC.headDim * SPEC.hidden + 3 * SPEC.hidden * SPEC.ffn);
    expect(withRecompute - model).toBe(2 * blockParams * 300 + 2 * SPEC.nLayers * SPEC.hidden * 3 * 100 * 100);
  });
  it('step time: compute = executed / (peak x mfu), overlapped = max, serial = sum', () => {
    const t = planStepTime({
      spec: SPEC, worldSize: 16, gpusPerNode: 8, seqLen: 256, microBatch: 2, gradAccumSteps: 2, stage: 2, recompute: false,
      precision: 'bf16', gradAccumDtype: 'fp32', lora: null, persistenceThreshold: 0, tflops: 100, mfu: 0.5,
      intraNodeGbps: 1000, interNodeGbps: 8, overlapComm: true,
    });
    expect(t.computeS).toBeCloseTo(t.executedFlopsPerGpu / 50e12, 12);
    // two nodes: the inter-node link (8 Gb/s = 1 GB/s) carries the ring
    expect(t.commS).toBeCloseTo(t.commBytesPerGpu / 1e9, 12);
    expect(t.overlappedS).toBe(Math.max(t.computeS!, t.commS));
    expect(t.serialS).toBeCloseTo(t.computeS! + t.commS, 12);
    expect(t.stepTimeS).toBe(t.overlappedS);
    expect(t.flopsPerStep).toBe(2 * 16 * trainingFlops(SPEC, [256, 256]));
  });
});
