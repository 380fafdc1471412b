// The --dry-run memory plan must equal what the allocator reports once the engine exists.
import { describe, expect, it } from 'vitest';
import { initDistributed } from '../../src/distributed/init.js';
import { phaseLayout } from '../../src/model/activations.js';
import { initRandomEntries, seededUniform } from '../../src/model/init.js';
import { memoryPlan } from '../../src/model/memory_plan.js';
import { TelechatModel } from '../../src/model/model.js';
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

describe('phase layout: the LM head logits chunk', () => {
  // the bench model of [CORE] (src/bench/core_config.ts) at 4096 tokens
  const BENCH_CONFIG = {
    architectures: ['Telechat2ForCausalLM'], hidden_size: 512, n_layer: 4, n_head: 8, num_key_value_heads: 8,
    ffn_hidden_size: 1376, vocab_size: 8192, tie_word_embeddings: false, training_seqlen: 1024,
  };
  const BENCH = parseModelSpec(BENCH_CONFIG);

  it('takes as many rows as fit beside headIn in the longest other phase, in steps of 64', () => {
    const T = 4096;
    // the longest other phase is the MLP's h [T, 1376] (attention's datt and dqkv are in the
    // block's gate|up buffer); room 5636096 - T H = 3538944 elements = 864 rows of 4096 -> 832
    const layout = phaseLayout(parseModelSpec({ ...BENCH_CONFIG, vocab_size: 4096 }), T, 1024);
    expect(layout.logitsRows).toBe(832);
    expect(layout.elements).toBe(T * 1376); // the head phase does not grow the buffer
    // vocab 3000: 1152 rows would fit, the requested 1024 are taken
    expect(phaseLayout(parseModelSpec({ ...BENCH_CONFIG, vocab_size: 3000 }), T, 1024).logitsRows).toBe(1024);
  });

  it('takes 512 rows and grows the buffer when fewer would fit', () => {
    // the bench model: the same room holds 432 rows of 8192 -> 384, under the 512-row floor
    const bench = phaseLayout(BENCH, 4096, 1024);
    expect(bench.logitsRows).toBe(512);
    expect(bench.elements).toBe(bench.head[1]! + 512 * 8192);
    // the longest other phase is the MLP's ln and x2 [600, 2 x 96]: room 115200 - 600*96 = 191 rows of 301
    const layout = phaseLayout(SPEC, 600, 1024);
    expect(layout.logitsRows).toBe(512);
    expect(layout.elements).toBe(layout.head[1]! + 512 * 301); // 211712, a multiple of 32
  });

  it("puts attention's datt and dqkv in the block's gate|up buffer where they fit, else in the phase buffer", () => {
    const T = 4096;
    // the bench model: datt [T, 512] and dqkv [T, 1536] in gate|up [T, 2752]
    expect(phaseLayout(BENCH, T, 1024).attentionInGateUp).toEqual([0, T * 512]);
    // ffn 600: gate|up [T, 1200] is too small, so the attention phase holds datt and dqkv
    const narrow = phaseLayout(parseModelSpec({ ...BENCH_CONFIG, ffn_hidden_size: 600 }), T, 1024);
    expect(narrow.attentionInGateUp).toBeNull();
    expect(narrow.attention).toEqual([0, T * 512]);
    expect(narrow.elements).toBe(T * (512 + 1536));
  });

  it('keeps a smaller requested chunk, and never exceeds the tokens', () => {
    expect(phaseLayout(BENCH, 4096, 128).logitsRows).toBe(128);
    expect(phaseLayout(SPEC, 600, 16).logitsRows).toBe(16); // what the loss test below compares with
    expect(phaseLayout(BENCH, 40, 1024).logitsRows).toBe(40);
    expect(phaseLayout(SPEC, 100, 1024).logitsRows).toBe(100);
  });

  it('is the chunk the model loops over', () => {
    // 600 label tokens: the 512-row chunk takes 2 passes; a model looping over the default
    // 1024 rows would run past its logits buffer (a RangeError). The loss matches 16-row chunks.
    const rows = [0, 1, 2].map((r) => {
      const ids = Array.from({ length: 200 }, (_, i) => (r * 37 + i * 11) % SPEC.vocab);
      return { inputIds: ids, labels: ids, docLens: [200] };
    });
    const loss = (logitsChunk?: number): number => {
      const model = new TelechatModel(SPEC, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 600, maxSeqLen: 200, recompute: false,
        ...(logitsChunk ? { logitsChunk } : {}) });
      const init = seededUniform(3);
      initRandomEntries(model.params, model.table.entries, 0.02, init);
      const res = model.forwardBackward(rows);
      model.free();
      return res.lossSum / res.count;
    };
    const fitted = loss();
    expect(Math.abs(fitted - loss(16)) / fitted).toBeLessThan(1e-6);
  });
});
