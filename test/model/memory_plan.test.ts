// The --dry-run memory plan must equal what the allocator reports once the model exists.
import { describe, expect, it } from 'vitest';
import { memoryPlan } from '../../src/model/memory_plan.js';
import { TelechatModel } from '../../src/model/model.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType, memStats } from '../../src/native/tensor.js';
import { ShardAdamW } from '../../src/zero/adamw.js';

const SPEC = parseModelSpec({
  architectures: ['Telechat2ForCausalLM'], hidden_size: 96, n_layer: 3, n_head: 6, num_key_value_heads: 2,
  ffn_hidden_size: 160, vocab_size: 301, tie_word_embeddings: false, training_seqlen: 64,
});

describe('memory plan', () => {
  it.each([
    ['fp32', DType.F32, DType.F32, false],
    ['bf16 + recompute', DType.BF16, DType.F32, true],
    ['bf16 grads', DType.BF16, DType.BF16, false],
  ] as const)('%s: plan equals the allocator', (_name, dtype, gradDtype, recompute) => {
    const before = memStats().current;
    const model = new TelechatModel(SPEC, cpuBackend, { dtype, gradDtype, maxTokens: 100, maxSeqLen: 64, recompute });
    const opt = new ShardAdamW(model.denseParams().buffer, model.denseGrads().buffer, [], { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamWMode: true });
    const now = memStats().current;
    const used = (k: string) => now[k]! - before[k]!;
    const plan = memoryPlan(SPEC, dtype, gradDtype, 100, recompute);
    expect(used('params')).toBe(plan.params);
    expect(used('grads')).toBe(plan.grads);
    expect(used('master')).toBe(plan.master);
    expect(used('optim')).toBe(plan.optim);
    expect(used('activations')).toBe(plan.activations);
    opt.free();
    model.free();
  });
});
