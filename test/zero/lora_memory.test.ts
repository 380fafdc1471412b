// LoRA model-state bytes per rank (metrics.jsonl `mem`: params + grads + master + optim, as the
// native allocator counts them) for a real telechat-train LoRA run through telechat-launch,
// bf16 parameters, fp32 gradient accumulation (the default). Psi_b = base parameters (frozen:
// stored in bf16, no gradient, no master, no moments), Psi_a = adapter parameters (bf16 working
// copy, fp32 gradients, fp32 master + two fp32 moments), N = ranks:
//   stage 0  2 Psi_b + (2 + 4 + 12) Psi_a
//   stage 1  2 Psi_b + (2 + 4) Psi_a + 12 Psi_a / N
//   stage 2  2 Psi_b + 2 Psi_a + 16 Psi_a / N
//   stage 3  (2 Psi_b + 18 Psi_a) / N
// Within 1% (the tolerance; the extras are the 32-element tensor alignment, unit padding
// to 32 N elements and 64-byte allocation rounding), and --dry-run's plan (memoryPlan with the
// lora section) equals the allocator byte for byte, activations included.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPlan } from '../../src/model/memory_plan.js';
import { buildLoraTable, loraTargets } from '../../src/model/lora.js';
import { buildParamTable } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';
import { DType } from '../../src/native/tensor.js';
import { type Fixture, makeFixture, runTrain } from '../helpers/train_fixture.js';
import { freePort } from '../dist/helpers.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('lora-mem');
afterAll(() => tmp.cleanup());
let fx: Fixture;

const MODEL = {
  architectures: ['Telechat2ForCausalLM'], hidden_size: 64, n_layer: 2, n_head: 4, num_key_value_heads: 2,
  ffn_hidden_size: 160, vocab_size: 4000, tie_word_embeddings: false, training_seqlen: 64,
};
const SPEC = parseModelSpec(MODEL);
const R = 32;
const TARGETS = ['all-linear'];
const PSI_B = buildParamTable(SPEC).count;
const PSI_A = buildLoraTable(SPEC, loraTargets(SPEC, { targetModules: TARGETS }), R).count;

const FORMULA = [
  (_n: number) => 2 * PSI_B + 18 * PSI_A,
  (n: number) => 2 * PSI_B + 6 * PSI_A + (12 * PSI_A) / n,
  (n: number) => 2 * PSI_B + 2 * PSI_A + (16 * PSI_A) / n,
  (n: number) => (2 * PSI_B + 18 * PSI_A) / n,
];

beforeAll(async () => {
  fx = await makeFixture(tmp.dir, MODEL, 64);
}, 120_000);

describe('LoRA model-state bytes per rank (bf16 params, fp32 gradients)', () => {
  it.each([
    [0, 1],
    [1, 2],
    [2, 2],
    [3, 2],
    [2, 3],
    [3, 3],
  ])('stage %i on %i rank(s): the formula within 1%, the dry-run plan exactly', async (stage, ranks) => {
    const out = join(tmp.dir, `s${stage}-n${ranks}`);
    const m = await runTrain(fx, out, ranks, {
      train_micro_batch_size_per_gpu: 1, gradient_accumulation_steps: 1, bf16: { enabled: true },
      zero_optimization: { stage, stage3_param_persistence_threshold: 0 },
      training: { max_steps: 1, max_seq_len: 64, seed: 3 },
      lora: { r: R, alpha: 16, target_modules: TARGETS },
    }, await freePort());
    const mem = m[0]!.mem;
    const plan = memoryPlan(SPEC, DType.BF16, DType.F32, 64, false, stage as 0 | 1 | 2 | 3, ranks, 0, undefined, 'cpu', { r: R, targets: TARGETS });
    expect({ params: mem.params, grads: mem.grads, master: mem.master, optim: mem.optim, activations: mem.activations }).toEqual(plan);
    const got = mem.params! + mem.grads! + mem.master! + mem.optim!;
    const want = FORMULA[stage]!(ranks);
    const rel = (got - want) / want;
    console.log(`LoRA stage ${stage} N=${ranks}: ${got} B, formula ${want.toFixed(0)} B (Psi_b ${PSI_B}, Psi_a ${PSI_A}), +${(rel * 100).toFixed(3)}%`);
    expect(Math.abs(rel)).toBeLessThan(0.01);
  }, 120_000);
});
