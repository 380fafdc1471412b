// Communication volume per optimizer step at accumulation 1, counted by the communicator:
// 2 Psi elements for stages 0-2 (all-reduce, or reduce-scatter + all-gather) and 3 Psi for
// stage 3 (all-gather in forward and in backward, reduce-scatter), Psi = padded parameters.
// Stage 3 gathers the head once for its fused forward+backward, so it moves 3 Psi - head.
// The small terms: 2-element sums per step (label tokens, loss, and for stages 1-3 the
// gradient norm, which stage 0 computes locally from its whole reduced gradient).
import { describe, expect, it } from 'vitest';
import { CountingCommunicator } from '../../src/distributed/counting.js';
import { initDistributed } from '../../src/distributed/init.js';
import { buildHostBatch } from '../../src/model/batch.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { ZeroEngine, type ZeroStage } from '../../src/zero/zero_engine.js';

const SPEC = parseModelSpec({
  architectures: ['Telechat2ForCausalLM'], hidden_size: 64, n_layer: 2, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 96, vocab_size: 300, tie_word_embeddings: false, training_seqlen: 64,
});

function volumeOfOneStep(stage: ZeroStage) {
  const group = initDistributed({ env: {} });
  const comm = new CountingCommunicator(group.world);
  const engine = new ZeroEngine({
    stage, comm, spec: SPEC, be: cpuBackend,
    model: { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 64, maxSeqLen: 64, recompute: false },
    hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamWMode: true }, noDecay: ['norm', 'bias'],
    overlapComm: true, prefetch: true, persistenceThreshold: 0,
  });
  const ids = Array.from({ length: 20 }, (_, i) => (i * 7) % 300);
  const batch = buildHostBatch([{ inputIds: ids, labels: ids, docLens: [20] }]);
  const total = engine.allReduceSum(batch.labelCount);
  const loss = engine.microStep(batch, 1 / total, true);
  engine.allReduceSum(loss.lossSum);
  engine.step({ step: 1, lr: 1e-3, maxGradNorm: 1, lossScale: 1 });
  const psi = engine.table.total;
  const head = engine.table.unitRange('head');
  const volume = { ...comm.volume };
  engine.free();
  group.destroy();
  return { volume, psi, head: head.end - head.start };
}

describe('ZeRO communication volume per step (accumulation 1)', () => {
  const small = 3 * 2 * 2; // three 2-element all-reduced sums, counted twice each
  it('stage 0: all-reduce of every gradient = 2 Psi', () => {
    const { volume, psi } = volumeOfOneStep(0);
    expect(volume).toEqual({ allReduce: 2 * psi + (2 * small) / 3, reduceScatter: 0, allGather: 0, broadcast: 0 });
  });
  it.each([1, 2] as const)('stage %i: reduce-scatter Psi + all-gather Psi = 2 Psi', (stage) => {
    const { volume, psi } = volumeOfOneStep(stage);
    expect(volume).toEqual({ allReduce: small, reduceScatter: psi, allGather: psi, broadcast: 0 });
  });
  it('stage 3: all-gather in forward and backward + reduce-scatter = 3 Psi (minus the fused head)', () => {
    const { volume, psi, head } = volumeOfOneStep(3);
    expect(volume).toEqual({ allReduce: small, reduceScatter: psi, allGather: 2 * psi - head, broadcast: 0 });
  });
});
