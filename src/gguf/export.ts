// TeleChat weights as a GGUF file for llama.cpp's `llama` architecture (DESIGN.md, "GGUF
// files"): every TeleChat layout maps onto it without a fork.
//   - q and k rows are permuted per head from TeleChat's rotate_half rotary (pairs (i, i+D/2))
//     to llama.cpp's normal rotary (pairs (2i, 2i+1)), as llama.cpp's converter does for HF
//     Llama checkpoints; k, v come from the de-interleaved key_value.
//   - the output-projection and down-projection biases are llama's optional
//     blk.N.attn_output.bias and blk.N.ffn_down.bias.
//   - 52B muP: the logit factor output_mult / mup_scale_factor is folded into output.weight
//     and input_mult into token_embd.weight. A tied model whose two factors differ gets its
//     own output.weight.
//   - rope.freq_base is TeleChat's NTK base evaluated at the length the weights were trained at
//     (context_length): training_seqlen, or a fine-tune's longer training.max_seq_len from its
//     telechat_training.json. Our forward (and the trainer) evaluate the rule once at that
//     length and use it at every position; llama.cpp's base is fixed, so the two agree. Past
//     training_seqlen the rule also multiplies cos and sin by mscale: llama.cpp's llama has no
//     such factor, so it is folded into attn_q and attn_k (rotary is linear, and nothing lies
//     between those projections and it), which scales every q.k by mscale^2 as training did.
//   - the chat template is the run's recorded one (telechat_training.json), else the config's.
import { basename, resolve } from 'node:path';
import { readTrainingRecord, type TrainingRecord } from '../checkpoint/training_record.js';
import { drain, type Steps } from '../checkpoint/interrupt.js';
import type { TemplateName } from '../data/templates.js';
import { templateFromConfig } from '../data/templates.js';
import { ropeParams, type RopeParams } from '../model/rope.js';
import type { ModelSpec } from '../model/spec.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jinjaChatTemplate } from '../data/chat_template.js';
import { encodeTensor } from './encode.js';
import { bool, f32, FileType, GgmlType, type MetaValue, str, u32, ValueType } from './format.js';
import type { CanonicalSource } from './sources.js';
import { ggufVocab } from './vocab.js';
import { GgufStreamWriter, type GgufTensorSpec } from './writer.js';

export const GGUF_DTYPES = ['fp32', 'fp16', 'bf16', 'q8_0', 'q4_0'] as const;
export type GgufDtype = (typeof GGUF_DTYPES)[number];

/** llama.cpp's spellings accepted as aliases. */
export const GGUF_DTYPE_ALIASES: Record<string, GgufDtype> = { f32: 'fp32', f16: 'fp16' };

const MATRIX_TYPE: Record<GgufDtype, GgmlType> = { fp32: GgmlType.F32, fp16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 };
const FILE_TYPE: Record<GgufDtype, FileType> = { fp32: FileType.ALL_F32, fp16: FileType.MOSTLY_F16, bf16: FileType.MOSTLY_BF16, q8_0: FileType.MOSTLY_Q8_0, q4_0: FileType.MOSTLY_Q4_0 };

interface PlannedTensor extends GgufTensorSpec {
  /** fp32 values in PyTorch row-major order (rows of dims[0] values). */
  values(src: CanonicalSource): Float32Array;
}

/** Rows [start, start + count) of a row-major matrix with rows of `rowLen`. */
function rows(m: Float32Array, rowLen: number, start: number, count: number): Float32Array {
  return m.subarray(start * rowLen, (start + count) * rowLen);
}

/**
 * rotate_half -> interleaved pairs: in each head of D rows, output row 2i + h takes input row
 * h * D/2 + i (llama.cpp convert_hf_to_gguf's permute()).
 */
export function permuteRotary(w: Float32Array, nHeads: number, headDim: number, rowLen: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let head = 0; head < nHeads; head++) {
    for (let i = 0; i < half; i++) {
      for (let h = 0; h < 2; h++) {
        const src = head * headDim + h * half + i;
        const dst = head * headDim + 2 * i + h;
        out.set(w.subarray(src * rowLen, (src + 1) * rowLen), dst * rowLen);
      }
    }
  }
  return out;
}

function scaled(v: Float32Array, s: number): Float32Array {
  if (s === 1) return v;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * s;
  return out;
}

/** The ggml type of a weight matrix: block types need rows of whole blocks (else f16). */
function matrixType(dtype: GgufDtype, rowLen: number): GgmlType {
  const t = MATRIX_TYPE[dtype];
  if ((t === GgmlType.Q8_0 || t === GgmlType.Q4_0) && rowLen % 32 !== 0) return GgmlType.F16;
  return t;
}

/** qkScale: the rotary mscale, folded into the q and k projections (1 up to training_seqlen). */
export function planTensors(spec: ModelSpec, dtype: GgufDtype, qkScale = 1): PlannedTensor[] {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V } = spec;
  const plan: PlannedTensor[] = [];
  // 1-D tensors stay f32, as llama.cpp's converter keeps them
  const vec = (name: string, n: number, values: PlannedTensor['values']): void => void plan.push({ name, dims: [n], type: GgmlType.F32, values });
  const mat = (name: string, outDim: number, inDim: number, values: PlannedTensor['values']): void =>
    void plan.push({ name, dims: [inDim, outDim], type: matrixType(dtype, inDim), values });
  mat('token_embd.weight', V, H, (s) => scaled(s.get('embed'), spec.embeddingScale));
  for (let i = 0; i < spec.nLayers; i++) {
    const p = `layers.${i}.`;
    const b = `blk.${i}.`;
    vec(b + 'attn_norm.weight', H, (s) => s.get(p + 'ln1'));
    mat(b + 'attn_q.weight', nh * D, H, (s) => scaled(permuteRotary(rows(s.get(p + 'qkv'), H, 0, nh * D), nh, D, H), qkScale));
    mat(b + 'attn_k.weight', nkv * D, H, (s) => scaled(permuteRotary(rows(s.get(p + 'qkv'), H, nh * D, nkv * D), nkv, D, H), qkScale));
    mat(b + 'attn_v.weight', nkv * D, H, (s) => rows(s.get(p + 'qkv'), H, (nh + nkv) * D, nkv * D));
    mat(b + 'attn_output.weight', H, nh * D, (s) => s.get(p + 'o'));
    if (spec.outputBiases) vec(b + 'attn_output.bias', H, (s) => s.get(p + 'o_bias'));
    vec(b + 'ffn_norm.weight', H, (s) => s.get(p + 'ln2'));
    mat(b + 'ffn_gate.weight', F, H, (s) => rows(s.get(p + 'gate_up'), H, 0, F));
    mat(b + 'ffn_up.weight', F, H, (s) => rows(s.get(p + 'gate_up'), H, F, F));
    mat(b + 'ffn_down.weight', H, F, (s) => s.get(p + 'down'));
    if (spec.outputBiases) vec(b + 'ffn_down.bias', H, (s) => s.get(p + 'down_bias'));
  }
  vec('output_norm.weight', H, (s) => s.get('ln_f'));
  // llama.cpp uses token_embd for the head when output.weight is absent
  // (a shared head computes embed * embeddingScale, right when the two factors are equal)
  const headShared = spec.tiedEmbeddings && spec.logitScale === spec.embeddingScale;
  if (!headShared) mat('output.weight', V, H, (s) => scaled(s.get(spec.tiedEmbeddings ? 'embed' : 'lm_head'), spec.logitScale));
  return plan;
}

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

/** The rotary rule at the length the weights were trained at (the record's, else training_seqlen). */
export function trainedRope(spec: ModelSpec, trained: TrainingRecord | null): RopeParams {
  return ropeParams(spec.rope, spec.headDim, trained?.max_seq_len ?? spec.rope.trainingSeqlen);
}

/** trained: the run's record (template, length), null for a model no run of ours recorded. */
export function ggufMetadata(spec: ModelSpec, hfDir: string, dtype: GgufDtype, name: string, warn: (message: string) => void = () => {}, trained: TrainingRecord | null = null): Array<[string, MetaValue]> {
  const template: TemplateName | undefined = trained?.chat_template ?? templateFromConfig(readConfig(hfDir));
  if (!template) throw new Error(`${join(hfDir, 'config.json')}: cannot tell the chat template from "architectures"`);
  const vocab = ggufVocab(hfDir, spec.vocab);
  if (vocab.normalizationGap !== null) warn(vocab.normalizationGap);
  const rope = trainedRope(spec, trained);
  const md: Array<[string, MetaValue]> = [
    ['general.architecture', str('llama')],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[dtype])],
  ];
  if (dtype === 'q8_0' || dtype === 'q4_0') md.push(['general.quantization_version', u32(2)]);
  md.push(
    ['llama.vocab_size', u32(spec.vocab)],
    ['llama.context_length', u32(rope.seqLen)],
    ['llama.embedding_length', u32(spec.hidden)],
    ['llama.block_count', u32(spec.nLayers)],
    ['llama.feed_forward_length', u32(spec.ffn)],
    ['llama.rope.dimension_count', u32(spec.headDim)],
    ['llama.attention.head_count', u32(spec.nHeads)],
    ['llama.attention.head_count_kv', u32(spec.nKvHeads)],
    ['llama.rope.freq_base', f32(rope.base)],
    ['llama.attention.layer_norm_rms_epsilon', f32(spec.eps)],
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.pre', str('default')],
    ['tokenizer.ggml.tokens', { type: ValueType.ARRAY, itemType: ValueType.STRING, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: ValueType.ARRAY, itemType: ValueType.F32, value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: ValueType.ARRAY, itemType: ValueType.I32, value: vocab.types }],
  );
  const ids: Array<[string, number | undefined]> = [
    ['tokenizer.ggml.bos_token_id', vocab.special.bos],
    ['tokenizer.ggml.eos_token_id', vocab.special.eos],
    ['tokenizer.ggml.unknown_token_id', vocab.special.unk],
    ['tokenizer.ggml.padding_token_id', vocab.special.pad],
  ];
  // <_end> closes a turn where it is a token (not in 52B, whose markers are text)
  if (template !== 'telechat-52b') ids.push(['tokenizer.ggml.eot_token_id', vocab.special.eos]);
  for (const [key, id] of ids) if (id !== undefined) md.push([key, u32(id)]);
  md.push(
    ['tokenizer.ggml.add_bos_token', bool(false)],
    ['tokenizer.ggml.add_eos_token', bool(false)],
    ['tokenizer.ggml.add_space_prefix', bool(vocab.addSpacePrefix)],
    ['tokenizer.ggml.remove_extra_whitespaces', bool(vocab.removeExtraWhitespaces)],
    ['tokenizer.chat_template', str(jinjaChatTemplate(template))],
    // which renderer telechat-chat uses (the Jinja above says the same for other runtimes)
    ['telechat.chat_format', str(template)],
  );
  return md;
}

export interface GgufExportResult {
  path: string;
  bytes: number;
  tensors: number;
  /** Matrices a q8_0 / q4_0 export wrote f16 instead: their rows are not a multiple of 32 long. */
  f16Fallbacks: number;
}

/** Writes `source` as one GGUF file (atomic: a temp file renamed into place). */
export interface GgufExportOptions {
  overwrite?: boolean;
  name?: string;
  /** Hears what the file cannot carry over (a tokenizer normalization llama.cpp skips). */
  warn?: (message: string) => void;
}

export function exportGguf(source: CanonicalSource, outPath: string, dtype: GgufDtype, options: GgufExportOptions = {}): GgufExportResult {
  return drain(exportGgufSteps(source, outPath, dtype, options));
}

/** exportGguf as steps, one tensor each (checkpoint/interrupt.ts). */
export function* exportGgufSteps(source: CanonicalSource, outPath: string, dtype: GgufDtype, options: GgufExportOptions = {}): Steps<GgufExportResult> {
  const spec = source.spec;
  // q, k and v are cut from one canonical qkv, gate and up from gate_up: keep the last one read
  let last: { name: string; values: Float32Array } | null = null;
  const memo: CanonicalSource = {
    spec,
    hfDir: source.hfDir,
    ...(source.recordDir !== undefined ? { recordDir: source.recordDir } : {}),
    get: (name) => {
      if (last?.name !== name) last = { name, values: source.get(name) };
      return last.values;
    },
    close: () => source.close(),
  };
  // a LoRA run's record lies beside its adapters; an adapter without one falls back to its base's
  const trained = (source.recordDir !== undefined ? readTrainingRecord(source.recordDir) : null) ?? readTrainingRecord(source.hfDir);
  const plan = planTensors(spec, dtype, trainedRope(spec, trained).mscale);
  const name = options.name ?? basename(resolve(source.hfDir, source.hfDir.endsWith('/hf') ? '..' : '.'));
  const writer = new GgufStreamWriter(outPath, ggufMetadata(spec, source.hfDir, dtype, name, options.warn, trained), plan, options.overwrite ?? false);
  try {
    for (const t of plan) {
      writer.write(t.name, encodeTensor(t.name, t.values(memo), t.type));
      yield;
    }
    const bytes = writer.bytesWritten;
    writer.finish();
    const quantized = MATRIX_TYPE[dtype] === GgmlType.Q8_0 || MATRIX_TYPE[dtype] === GgmlType.Q4_0;
    const f16Fallbacks = quantized ? plan.filter((t) => t.dims.length === 2 && t.type === GgmlType.F16).length : 0;
    return { path: writer.outPath, bytes, tensors: plan.length, f16Fallbacks };
  } catch (err) {
    writer.abort();
    throw err;
  }
}
