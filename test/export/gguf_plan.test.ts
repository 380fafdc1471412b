// The GGUF tensor plan on hand-made specs (no training): the rotary row permutation, and the
// muP folds for a TIED 52B-style model, where token_embd and the head cannot share one tensor
// when input_mult differs from the logit factor.
import { describe, expect, it } from 'vitest';
import { permuteRotary, planTensors } from '../../src/gguf/export.js';
import type { CanonicalSource } from '../../src/gguf/sources.js';
import { buildParamTable } from '../../src/model/params.js';
import { parseModelSpec } from '../../src/model/spec.js';

const cfg52b = (extra: Record<string, unknown>) =>
  parseModelSpec({ architectures: ['TELECHAT'], n_embd: 64, n_layer: 1, n_head: 4, n_inner: 96, vocab_size: 40, n_positions: 64, use_mup: true, mup_scale_factor: 4, output_mult: 1, ...extra });

/** A source whose every value is 1 + its index, so scaling and slicing show in the output. */
function fakeSource(spec: ReturnType<typeof cfg52b>): CanonicalSource {
  const table = buildParamTable(spec);
  return {
    spec,
    hfDir: '',
    get: (name) => Float32Array.from({ length: table.get(name).numel }, (_, i) => i + 1),
    close: () => {},
  };
}

describe('muP folds', () => {
  it('tied, input_mult 1.5 != logit factor 1/4: output.weight = embed / 4, token_embd = embed * 1.5', () => {
    const spec = cfg52b({ input_mult: 1.5, tie_word_embeddings: true });
    const plan = planTensors(spec, 'fp32');
    const src = fakeSource(spec);
    const embd = plan.find((t) => t.name === 'token_embd.weight')!.values(src);
    const out = plan.find((t) => t.name === 'output.weight')!;
    expect(out.dims).toEqual([64, 40]);
    expect(Array.from(embd.subarray(0, 3))).toEqual([1.5, 3, 4.5]);
    expect(Array.from(out.values(src).subarray(0, 3))).toEqual([0.25, 0.5, 0.75]);
  });

  it('tied with equal factors shares token_embd (scaled once); untied folds each into its own tensor', () => {
    const shared = cfg52b({ input_mult: 0.25, tie_word_embeddings: true });
    expect(planTensors(shared, 'fp32').some((t) => t.name === 'output.weight')).toBe(false);
    expect(Array.from(planTensors(shared, 'fp32')[0]!.values(fakeSource(shared)).subarray(0, 2))).toEqual([0.25, 0.5]);
    const untied = cfg52b({ input_mult: 1, tie_word_embeddings: false });
    const out = planTensors(untied, 'q8_0').find((t) => t.name === 'output.weight')!;
    expect(out.type).toBe(8);
    expect(Array.from(out.values(fakeSource(untied)).subarray(0, 2))).toEqual([0.25, 0.5]);
  });
});

it('rotary permutation: row 2i + h of each head takes row h * D/2 + i (rotate_half -> pairs)', () => {
  // 2 heads of D = 4, rows of length 1 holding their own index
  const w = Float32Array.from({ length: 8 }, (_, i) => i);
  expect(Array.from(permuteRotary(w, 2, 4, 1))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
});
