// Offload on the GPU path: the planned device bytes per category and host bytes per rank
// equal what the engine allocates, over the stand-in CUDA runtime (src/native/host_cuda.ts:
// 'cuda' tensors in host memory, device bytes counted per category apart from the host's).
// The stand-in counts requested bytes, the plan the CUDA pool's rounding (512 B below 1 MiB),
// so the tolerance is the 2%; host bytes (64-B host rounding on both sides) are exact.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildHostBatch } from '../../src/model/batch.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { useCudaFunctions } from '../../src/native/addon.js';
import { cudaBackendOver } from '../../src/native/cuda_backend.js';
import { hostCudaFunctions } from '../../src/native/host_cuda.js';
import { DType, memStats, resetMemPeaks, setNumThreads } from '../../src/native/tensor.js';
import { loraTargets } from '../../src/model/lora.js';
import { defaultLoraTargets } from '../../src/plan/lora.js';
import { planMemory } from '../../src/plan/memory.js';
import { ZeroEngine, type ZeroStage } from '../../src/zero/zero_engine.js';
import { StandInCommunicator } from './standin_comm.js';

setNumThreads(1);
const cuda = hostCudaFunctions();
useCudaFunctions(cuda);
const be = cudaBackendOver(cuda);
// head dim 32 with GQA: a shape the CUDA attention kernels support
const SPEC = parseModelSpec(JSON.parse(readFileSync('data/tiny-model/config.json', 'utf8')));
const CATEGORIES = ['params', 'grads', 'master', 'optim', 'activations', 'buffers'] as const;
const HOST = ['params', 'master', 'optim', 'buffers'] as const;

function run(stage: ZeroStage, ranks: number, offloadOptimizer: boolean, offloadParam: boolean, lora: boolean) {
  const seqLen = 128;
  const hostBefore = memStats().current;
  const devBefore = cuda.cudaMemStats().current;
  resetMemPeaks();
  cuda.cudaMemResetPeaks();
  const engine = new ZeroEngine({
    stage, comm: new StandInCommunicator(ranks, be), spec: SPEC, be,
    model: {
      dtype: DType.BF16, gradDtype: DType.F32, maxTokens: 2 * seqLen, maxSeqLen: seqLen, recompute: true,
      ...(lora ? { lora: { targets: loraTargets(SPEC, { targetModules: ['all-linear'] }), r: 8, scale: 2, dropout: 0 } } : {}),
    },
    hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamWMode: true }, noDecay: ['norm', 'bias'],
    overlapComm: stage === 3, prefetch: true, persistenceThreshold: 0, offloadOptimizer, offloadParam,
  });
  if (engine.baseTable) engine.initBase(() => {});
  engine.initParams(() => {});
  const rows = [0, 1].map((b) => {
    const ids = Array.from({ length: seqLen }, (_, i) => (i * 31 + b * 7 + 3) % SPEC.vocab);
    return { inputIds: ids, labels: ids, docLens: [seqLen] };
  });
  const batch = buildHostBatch(rows);
  resetMemPeaks(); // host: initParams' temporaries are not part of a step
  engine.microStep(batch, 1 / batch.labelCount, true);
  engine.step({ step: 1, lr: 1e-3, maxGradNorm: 1, lossScale: 1 });
  const dev = cuda.cudaMemStats().peak;
  const host = memStats().peak;
  const got = Object.fromEntries(CATEGORIES.map((k) => [k, dev[k]! - devBefore[k]!]));
  const gotHost = HOST.reduce((s, k) => s + host[k]! - hostBefore[k]!, 0);
  engine.free();
  const plan = planMemory({
    spec: SPEC, worldSize: ranks, device: 'cuda', precision: 'bf16', gradAccumDtype: 'fp32', seqLen, microBatch: 2, stage, recompute: true,
    offloadOptimizer, offloadParam, persistenceThreshold: 0, overlapComm: stage === 3, prefetch: true, logitsChunk: 1024,
    lora: lora ? { r: 8, targets: defaultLoraTargets(SPEC) } : null, blasWorkspaceBytes: 0,
  });
  return { got, gotHost, plan };
}

describe('offload: planned device and host bytes equal the allocations (stand-in CUDA runtime)', () => {
  it.each([
    [1, 2, true, false],
    [2, 2, true, false],
    [3, 2, true, false],
    [3, 3, true, true],
    [3, 4, false, true],
    [3, 2, false, false],
  ] as const)('stage %i on %i ranks, offload optimizer %s, params %s', (stage, ranks, opt, param) => {
    check(stage, ranks, opt, param, false);
  });
  // LoRA: the frozen base and the adapters offloaded as the engine places them
  it.each([
    [2, 2, true, false],
    [3, 2, true, true],
    [3, 3, false, true],
  ] as const)('LoRA, stage %i on %i ranks, offload optimizer %s, params %s', (stage, ranks, opt, param) => {
    check(stage, ranks, opt, param, true);
  });

  function check(stage: ZeroStage, ranks: number, opt: boolean, param: boolean, lora: boolean): void {
    const { got, gotHost, plan } = run(stage, ranks, opt, param, lora);
    for (const k of CATEGORIES) {
      const where = `${k}: planned ${plan.perGpu[k]}, allocated ${got[k]}`;
      if (got[k] === 0) expect(plan.perGpu[k], where).toBe(0);
      else expect(Math.abs(plan.perGpu[k] - got[k]!) / got[k]!, where).toBeLessThanOrEqual(0.02);
    }
    expect(plan.hostPerRank, `host: planned ${plan.hostPerRank}, allocated ${gotHost}`).toBe(gotHost);
    if (opt) expect(plan.perGpu.master + plan.perGpu.optim).toBe(0);
  }
});
