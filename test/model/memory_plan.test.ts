// The --dry-run memory plan must equal what the allocator reports once the engine exists.
import { describe, expect, it } from 'vitest';
import { initDistributed } from '../../src/distributed/init.js';
import { memoryPlan } from '../../src/model/memory_plan.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType, memStats } from '../../src/native/tensor.js';
import { ZeroEngine } from '../../src/zero/zero_engine.js';

const SPEC = parseModelSpec({
  architectures: ['Telechat2ForCausalLM'], hidden_size: 96, n_layer: 3, n_head: 6, num_key_value_heads: 2,
  ffn_hidden_size: 160, vocab_size: 301, tie_word_embeddings: false, training_seqlen: 64,
});

describe('memory plan', () => {
  it.each([
    ['stage 0 fp32', 0, DType.F32, DType.F32, false],
    ['stage 1 bf16 + recompute', 1, DType.BF16, DType.F32, true],
    ['stage 2 bf16 grads', 2, DType.BF16, DType.BF16, false],
    ['stage 3 bf16', 3, DType.BF16, DType.F32, false],
  ] as const)('%s: plan equals the allocator', (_name, stage, dtype, gradDtype, recompute) => {
    const group = initDistributed({ env: {} });
    const before = memStats().current;
    const engine = new ZeroEngine({
      stage, comm: group.world, spec: SPEC, be: cpuBackend,
      model: { dtype, gradDtype, maxTokens: 100, maxSeqLen: 64, recompute },
      hyper: { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamWMode: true }, noDecay: ['norm', 'bias'],
      overlapComm: false, prefetch: false, persistenceThreshold: 0,
    });
    const now = memStats().current;
    const used = (k: string) => now[k]! - before[k]!;
    const plan = memoryPlan(SPEC, dtype, gradDtype, 100, recompute, stage, 1, 0);
    expect(used('params')).toBe(plan.params);
    expect(used('grads')).toBe(plan.grads);
    expect(used('master')).toBe(plan.master);
    expect(used('optim')).toBe(plan.optim);
    expect(used('activations')).toBe(plan.activations);
    engine.free();
    group.destroy();
  });
});
