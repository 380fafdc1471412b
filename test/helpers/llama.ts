// llama.cpp (through node-llama-cpp, CPU) as the runtime under test: next-token
// distributions over teacher-forced positions and greedy continuations of a GGUF file.
// The KV cache is kept in f32 (llama.cpp's default is f16) so an f32 GGUF is compared with
// our fp32 forward without an extra rounding step.
import { readFileSync } from 'node:fs';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { parseConversation, type Conversation } from '../../src/data/formats.js';

let llamaPromise: Promise<Llama> | null = null;

export function cpuLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  return llamaPromise;
}

export async function loadGguf(path: string, vocabOnly = false): Promise<LlamaModel> {
  const llama = await cpuLlama();
  return llama.loadModel({ modelPath: path, vocabOnly, gpuLayers: 0 });
}

/** Dense probability rows [positions, vocab]: the next-token distribution after each token. */
export async function teacherForced(model: LlamaModel, ids: number[], vocab: number): Promise<Float64Array[]> {
  const ctx = await model.createContext({ contextSize: 128, batchSize: 128, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false, threads: 1 });
  try {
    const seq = ctx.getSequence();
    const options = { temperature: 1, topK: vocab, topP: 1, minP: 0 };
    const out = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true, options } }]));
    return out.map((o, p) => {
      const probs = o?.next.probabilities;
      if (!probs) throw new Error(`llama.cpp gave no probabilities at position ${p}`);
      const row = new Float64Array(vocab);
      for (const [tok, pr] of probs) row[tok] = pr;
      return row;
    });
  } finally {
    await ctx.dispose();
  }
}

/** `n` tokens chosen greedily after `prompt`, not stopping at end-of-turn tokens. */
export async function greedy(model: LlamaModel, prompt: number[], n: number): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 128, batchSize: 128, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false, threads: 1 });
  try {
    const out: number[] = [];
    for await (const t of ctx.getSequence().evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
      out.push(t);
      if (out.length === n) break;
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

/** The shipped sample conversations. */
export function sampleConversations(): Conversation[] {
  return readFileSync('data/sample-conversations.jsonl', 'utf8')
    .trim()
    .split('\n')
    .map((l) => parseConversation(JSON.parse(l), 'auto'));
}

/** softmax of fp32 logits, in fp64. */
export function softmax(logits: Float32Array): Float64Array {
  let m = -Infinity;
  for (const x of logits) m = Math.max(m, x);
  const out = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += out[i] = Math.exp(logits[i]! - m);
  for (let i = 0; i < out.length; i++) out[i]! /= z;
  return out;
}

/**
 * KL(p || q) of two distributions, each renormalised in float64 first: llama.cpp's probabilities
 * are float32 and sum to 1 only within ~1e-7, which alone would shift a near-zero KL by as much
 * (and could make it negative).
 */
export function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0, sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    if (pi > 0) kl += pi * Math.log(pi / Math.max(q[i]! / sq, 1e-300));
  }
  return kl;
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
