// The GGUF export run inside llama.cpp itself (node-llama-cpp 3.21.1, CPU) for the tiny
// trained model of each layout (test/helpers/gguf_fixture.ts):
//   f32: next-token distributions over 32 teacher-forced positions of 3 shipped conversations
//        agree with the softmax of our fp32 forward within 1e-4 absolute; greedy
//        continuations of 32 tokens are identical up to the first step where our top-2 logit
//        margin is <= 1e-3 (there a tie may break either way and the texts may part).
//   f16, bf16, q8_0, q4_0: mean KL(f32 || dtype) over the same positions is below the bound
//        derived in klBound(); top-1 agreement with f32 is printed (docs/export.md records it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadHfSpec, loadHfWeights } from '../../src/checkpoint/hf.js';
import { encodeConversations } from '../../src/data/encode.js';
import { getTemplate, templateFromConfig } from '../../src/data/templates.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { exportGguf, type GgufDtype } from '../../src/gguf/export.js';
import { CheckpointCanonicalSource, HfCanonicalSource, type CanonicalSource } from '../../src/gguf/sources.js';
import type { ModelSpec } from '../../src/model/spec.js';
import { TelechatModel } from '../../src/model/model.js';
import { cpuBackend } from '../../src/native/cpu_backend.js';
import { DType } from '../../src/native/tensor.js';
import { readFileSync } from 'node:fs';
import { trainedModel, type TrainedModel } from '../helpers/gguf_fixture.js';
import { argmax, greedy, klDivergence, loadGguf, sampleConversations, softmax, teacherForced } from '../helpers/llama.js';
import { makeTmpDir } from '../helpers/tmp.js';

const tmp = makeTmpDir('gguf-parity');
afterAll(() => tmp.cleanup());

const LAYOUTS = ['telechat2', 'telechat', '52b'];
const POSITIONS = 32;
const PROMPT = 16;
const GREEDY = 32;
const PROB_TOL = 1e-4;
const MARGIN = 1e-3;

/**
 * Bound on the mean KL divergence of a dtype's distributions from f32's.
 * Round-to-nearest leaves each stored value a relative error uniform in +-u/2 (RMS u/sqrt(12)
 * of the value's ulp-scale u|x|): f16 u = 2^-10, bf16 u = 2^-7. Q8_0 rounds to a step
 * d = max|x|/127 per block of 32, error RMS d/sqrt(12), and max|x| <= sqrt(32) rms(x) in any
 * block, so relative RMS <= sqrt(32)/(127 sqrt(12)); Q4_0 the same with step max|x|/8.
 * ggml also rounds the activations of each matmul to the weight's dot type, so a matmul
 * output carries relative error sqrt(2) rho. With N = 7 L + 2 rounded products on the path
 * (q, k, v, o, gate, up, down per block; embedding; head) adding up at worst linearly, the
 * logits move by at most sigma = sqrt(2) rho N std(z) (std over the vocabulary at that
 * position), and for small perturbations KL(p || q) <= Var_p(delta) / 2 <= sigma^2 / 2.
 */
function rho(dtype: GgufDtype): number {
  switch (dtype) {
    case 'fp32':
      return 0;
    case 'fp16':
      return 2 ** -10 / Math.sqrt(12);
    case 'bf16':
      return 2 ** -7 / Math.sqrt(12);
    case 'q8_0':
      return Math.sqrt(32) / (127 * Math.sqrt(12));
    case 'q4_0':
      return Math.sqrt(32) / (8 * Math.sqrt(12));
  }
}

function klBound(dtype: GgufDtype, spec: ModelSpec, logitStd: number[]): number {
  const n = 7 * spec.nLayers + 2;
  const s = Math.SQRT2 * rho(dtype) * n;
  return logitStd.reduce((a, z) => a + 0.5 * (s * z) ** 2, 0) / logitStd.length;
}

interface Case {
  model: TrainedModel;
  spec: ModelSpec;
  /** Teacher-forced token ids of 3 conversations. */
  prompts: number[][];
  /** Our fp32 logits per prompt [POSITIONS * V]. */
  logits: Float32Array[];
  ours: TelechatModel;
  gguf: Record<string, string>;
  /** llama.cpp's distributions from the f32 GGUF, per prompt and position. */
  f32Rows: Float64Array[][];
}

const cases = new Map<string, Case>();

function ourLogits(model: TelechatModel, ids: number[]): Float32Array {
  return model.forward([{ inputIds: ids, labels: ids.map(() => -100), docLens: [ids.length] }], true).logits!;
}

beforeAll(async () => {
  const convs = sampleConversations();
  for (const [i, layout] of LAYOUTS.entries()) {
    const model = await trainedModel(tmp.dir, layout, 29720 + i);
    const spec = loadHfSpec(model.hf);
    const tok = loadTokenizer(model.hf);
    const template = getTemplate(templateFromConfig(JSON.parse(readFileSync(join(model.hf, 'config.json'), 'utf8')))!);
    // conversations 0, 100, 200 (first 32 tokens of each: system or question, then answer)
    const enc = encodeConversations(tok, template, [convs[0]!, convs[100]!, convs[200]!], 'all');
    tok.close();
    const prompts = enc.map((e) => Array.from(e.ids.subarray(0, POSITIONS)));
    for (const p of prompts) expect(p.length).toBe(POSITIONS);
    const ours = new TelechatModel(spec, cpuBackend, { dtype: DType.F32, gradDtype: DType.F32, maxTokens: 128, maxSeqLen: spec.rope.trainingSeqlen, recompute: false });
    loadHfWeights(model.hf, spec, ours.params);
    const gguf: Record<string, string> = {};
    for (const dtype of ['fp32', 'fp16', 'bf16', 'q8_0', 'q4_0'] as const) {
      // v1 is exported from the checkpoint's fp32 master weights, the others from final/
      const src: CanonicalSource = layout === 'telechat' ? new CheckpointCanonicalSource(model.out) : new HfCanonicalSource(model.hf);
      try {
        gguf[dtype] = exportGguf(src, join(tmp.dir, `${layout}-${dtype}.gguf`), dtype).path;
      } finally {
        src.close();
      }
    }
    const f32 = await loadGguf(gguf.fp32!);
    const f32Rows: Float64Array[][] = [];
    try {
      for (const p of prompts) f32Rows.push(await teacherForced(f32, p, spec.vocab));
    } finally {
      await f32.dispose();
    }
    cases.set(layout, { model, spec, prompts, logits: prompts.map((p) => ourLogits(ours, p)), ours, gguf, f32Rows });
  }
}, 300_000);

afterAll(() => {
  for (const c of cases.values()) c.ours.free();
});

describe.each(LAYOUTS)('%s', (layout) => {
  it('f32 GGUF: llama.cpp next-token distributions match our forward within 1e-4', async () => {
    const c = cases.get(layout)!;
    const V = c.spec.vocab;
    let worst = 0;
    for (const [k, rows] of c.f32Rows.entries()) {
      for (let p = 0; p < POSITIONS; p++) {
        const ref = softmax(c.logits[k]!.subarray(p * V, (p + 1) * V));
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(ref[v]! - rows[p]![v]!));
      }
    }
    console.log(`${layout} f32: max |p_llama.cpp - p_ours| = ${worst.toExponential(2)} over ${c.prompts.length} x ${POSITIONS} positions x ${V} tokens`);
    expect(worst).toBeLessThan(PROB_TOL);
  });

  it('f32 GGUF: greedy continuations of 32 tokens equal ours wherever our top-2 margin exceeds 1e-3', async () => {
    const c = cases.get(layout)!;
    const V = c.spec.vocab;
    const model = await loadGguf(c.gguf.fp32!);
    let compared = 0;
    try {
      for (const ids of c.prompts) {
        const prompt = ids.slice(0, PROMPT);
        const theirs = await greedy(model, prompt, GREEDY);
        const seq = [...prompt];
        for (let step = 0; step < GREEDY; step++) {
          const all = ourLogits(c.ours, seq);
          const last = all.subarray((seq.length - 1) * V, seq.length * V);
          const top = argmax(last);
          let second = -Infinity;
          for (let v = 0; v < V; v++) if (v !== top) second = Math.max(second, last[v]!);
          if (last[top]! - second <= MARGIN) break; // a near tie: either token is right
          expect(theirs[step], `step ${step} after ${JSON.stringify(seq)}`).toBe(top);
          compared++;
          seq.push(top);
        }
      }
    } finally {
      await model.dispose();
    }
    console.log(`${layout} f32: ${compared} of ${c.prompts.length * GREEDY} greedy tokens compared (the rest follow a near tie)`);
    expect(compared).toBeGreaterThan(c.prompts.length * GREEDY * 0.5);
  });

  it.each(['fp16', 'bf16', 'q8_0', 'q4_0'] as const)('%s GGUF: mean KL from f32 below the rounding bound; top-1 agreement', async (dtype) => {
    const c = cases.get(layout)!;
    const V = c.spec.vocab;
    const other = await loadGguf(c.gguf[dtype]!);
    let kl = 0;
    let agree = 0;
    let n = 0;
    const stds: number[] = [];
    try {
      for (const [k, ids] of c.prompts.entries()) {
        const p = c.f32Rows[k]!;
        const q = await teacherForced(other, ids, V);
        for (let t = 0; t < POSITIONS; t++) {
          kl += klDivergence(p[t]!, q[t]!);
          if (argmax(p[t]!) === argmax(q[t]!)) agree++;
          n++;
          const z = c.logits[k]!.subarray(t * V, (t + 1) * V);
          const mean = z.reduce((a, x) => a + x, 0) / V;
          stds.push(Math.sqrt(z.reduce((a, x) => a + (x - mean) ** 2, 0) / V));
        }
      }
    } finally {
      await other.dispose();
    }
    const bound = klBound(dtype, c.spec, stds);
    console.log(`${layout} ${dtype}: mean KL ${(kl / n).toExponential(2)} (bound ${bound.toExponential(2)}), top-1 agreement ${agree}/${n}`);
    expect(kl / n).toBeLessThan(bound);
    expect(kl / n).toBeGreaterThan(0); // the dtype really rounds (a file of f32 would not)
  });
});
