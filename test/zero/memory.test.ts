// Model-state bytes per rank (params + grads + master + optim, as the native allocator counts
// them in metrics.jsonl `mem`) follow the ZeRO paper's table, for a real telechat-train run
// through telechat-launch (Gloo on 127.0.0.1), one optimizer step at accumulation 1, bf16
// parameters. Psi = the model's parameter count, N = ranks.
//
//   bf16 gradients (data_types.grad_accum_dtype "bf16"), the paper's K = 12 (fp32 master +
//   two fp32 moments):
//     stage 0  2 + 2 + 12            = 16 Psi
//     stage 1  2 + 2 + 12/N          = 4 Psi + 12 Psi / N
//     stage 2  2 + 2/N + 12/N        = 2 Psi + 14 Psi / N
//     stage 3  (2 + 2 + 12) / N      = 16 Psi / N
//   fp32 gradient accumulation (the default): the gradient term is 4 bytes, not 2:
//     stage 0  18 Psi;  stage 1  6 Psi + 12 Psi / N;  stage 2  2 Psi + 16 Psi / N;  stage 3  18 Psi / N
//
// Tolerance 5% (the issue's). What the allocator adds on top of the formula, all counted here
// (nothing is excluded from the measurement): every tensor starts at a multiple of 32 elements
// and every unit (embedding, block, head) is padded to a multiple of 32 * N elements, each
// allocation is rounded up to 64 bytes. This model's tensors are all multiples of 64 elements,
// so at N = 1, 2 the padding is zero and the bytes equal the formula exactly; at N = 3 the
// units are padded to multiples of 96 and allocations rounded to 64 bytes (measured +0.027%). So the
// test also holds the measurement to at most 0.5% above the formula, and never below it. Stage-3
// gathered parameters and stage-2/3 gradient buckets are transient (category "buffers") and
// freed by the end of the step when `mem` is sampled; the persistence threshold is 0 so every
// unit is sharded (a persistent unit would keep 2 bytes/param whole on every rank).
// Each run also checks that --dry-run's memory plan (src/model/memory_plan.ts, computed from
// the architecture alone) equals the allocator byte for byte at that stage and N, activations
// included.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPlan } from '../../src/model/memory_plan.js';
import { buildParamTable } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { DType } from '../../src/native/tensor.js';
import { type Fixture, makeFixture, runTrain } from '../helpers/train_fixture.js';
import { freePort } from '../dist/helpers.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('zero-mem');
afterAll(() => tmp.cleanup());
let fx: Fixture;

const MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: 64, n_layer: 2, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 160, vocab_size: 4000, tie_word_embeddings: false, training_seqlen: 64,
};
const PSI = buildParamTable(parseModelSpec(MODEL)).count;

/** Bytes per parameter of the model state, by stage, on N ranks. */
const FORMULA = {
  bf16: [(_n: number) => 16, (n: number) => 4 + 12 / n, (n: number) => 2 + 14 / n, (n: number) => 16 / n],
  fp32: [(_n: number) => 18, (n: number) => 6 + 12 / n, (n: number) => 2 + 16 / n, (n: number) => 18 / n],
} as const;

async function modelStateBytes(stage: number, ranks: number, gradDtype: 'bf16' | 'fp32'): Promise<number> {
  const out = join(tmp.dir, `s${stage}-n${ranks}-${gradDtype}`);
  const m = await runTrain(fx, out, ranks, {
    train_micro_batch_size_per_gpu: 1, gradient_accumulation_steps: 1,
    bf16: { enabled: true }, data_types: { grad_accum_dtype: gradDtype },
    zero_optimization: { stage, stage3_param_persistence_threshold: 0 },
    training: { max_steps: 1, max_seq_len: 64, seed: 3 },
  }, await freePort());
  expect(m).toHaveLength(1);
  const mem = m[0]!.mem;
  // --dry-run's plan (computed from the architecture alone) equals the allocator at N ranks too
  const plan = memoryPlan(parseModelSpec(MODEL), DType.BF16, gradDtype === 'bf16' ? DType.BF16 : DType.F32, 64, false, stage as 0 | 1 | 2 | 3, ranks, 0);
  expect({ params: mem.params, grads: mem.grads, master: mem.master, optim: mem.optim, activations: mem.activations }).toEqual(plan);
  return mem.params! + mem.grads! + mem.master! + mem.optim!;
}

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL, 64);
}, 120_000);

describe.each(['bf16', 'fp32'] as const)('model-state bytes per rank, bf16 params, %s gradients', (gradDtype) => {
  it.each([
    [0, 1],
    [0, 2],
    [1, 2],
    [2, 2],
    [3, 2],
    [2, 3],
    [3, 3],
  ])('stage %i on %i rank(s)', async (stage, ranks) => {
    const want = FORMULA[gradDtype][stage]!(ranks) * PSI;
    const got = await modelStateBytes(stage, ranks, gradDtype);
    const rel = (got - want) / want;
    console.log(`stage ${stage} N=${ranks} ${gradDtype} grads: ${got} B = ${(got / PSI).toFixed(4)} B/param, formula ${(want / PSI).toFixed(4)}, +${(rel * 100).toFixed(3)}%`);
    expect(Math.abs(rel), `${got} bytes vs ${want} (${(rel * 100).toFixed(3)}%)`).toBeLessThan(0.05);
    // the only extras are padding and 64-byte rounding: never less than the formula, barely more
    expect(rel).toBeGreaterThanOrEqual(0);
    expect(rel).toBeLessThan(0.005);
  });
});
