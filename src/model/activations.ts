// Activation memory, allocated once for the largest micro-batch (capacity in tokens) and
// reused every step. Each block keeps what its backward needs; with recompute only the
// block inputs are kept per block and one shared set is refilled during backward.
import { Arena, DType, MemCategory, type Device, type Tensor } from '../native/tensor.js';
import type { ModelSpec } from './spec.js';

/**
 * What one block's backward reads, saved by its forward. The norm outputs are not kept: the
 * backward recomputes them from their inputs, one memory-bound pass each, instead of holding two
 * [T, H] tensors per block. x2, the second norm's input, is kept only by the one shared set of
 * gradient checkpointing (whose re-forward writes it); otherwise the backward recomputes it from
 * the block input and the attention output it keeps anyway: the o projection again (H x H
 * multiply-adds per token, about 8% of a TeleChat block's forward products) for [T, H] less per
 * block.
 */
export interface BlockActivations {
  rstd1: Tensor; // [T] fp32
  qkv: Tensor; // [T, (nh + 2 nkv) D] after rotary
  att: Tensor; // [T, nh D] attention output
  lse: Tensor; // [nh, T] fp32
  x2: Tensor | null; // [T, H] residual after attention (gradient checkpointing only)
  rstd2: Tensor; // [T] fp32
  gu: Tensor; // [T, 2F] gate | up
}

/**
 * Temporaries shared by all blocks and the head. Three groups are never alive together, so they
 * share one buffer (`phases`): the MLP's h, with dh written over it once h's readers are done (a
 * block's forward MLP and its backward MLP half), attention's {datt, dqkv} (a block's backward
 * attention half, after its MLP half) and the head's {headIn, logits} (after the last block's
 * forward, before the first backward). Where they fit (an ffn of at least about twice the hidden
 * size, as in every TeleChat), datt and dqkv instead go into the block's own gate|up buffer, dead
 * once its MLP half is done (PhaseLayout.attentionInGateUp), and the phase buffer holds only the
 * attention half's ln. headIn holds ln_f's output for the rows that carry loss
 * only, normed straight into place, and each chunk's input gradient is written over its rows once
 * the chunk's weight gradient has read them. A norm's output `ln` opens the buffer too: the
 * projection that reads it runs before h or datt is written there (forward), or after they are
 * dead (backward, where it is recomputed). The gate|up gradient has no buffer of its own: the
 * swiglu backward writes it over the block's saved gate|up, which nothing reads after it.
 */
export interface Workspace {
  ln: Tensor; // [T, H] a norm's output, made where a projection reads it   -- MLP, attention phase
  x2Again: Tensor; // [T, H] x2 recomputed by the backward, beside ln       -- MLP phase
  rstd: Tensor; // [T] fp32 the recomputing norm's 1/rms (the saved one is used for its backward)
  h: Tensor; // [T, F] swiglu output (recomputed in backward)   -- MLP phase
  dresid: Tensor; // [T, H] gradient flowing down the residual stream
  dh: Tensor; // [T, F] the same buffer as h                      -- MLP phase
  /** The whole phase buffer (attention's datt and dqkv are placed per block: attentionGrads). */
  phases: Tensor;
  rstdf: Tensor; // [T] fp32 ln_f's 1/rms (0 on rows that carry no loss in training)
  headIn: Tensor; // [T, H] ln_f's output on the rows that carry loss, packed, then their gradient -- head phase
  logits: Tensor; // [chunk, V] one chunk of LM-head rows             -- head phase
  dlnf: Tensor; // [T, H] ln_f's output gradient, over the logits once they are done -- head phase
}

// Buffers carved from the phase buffer start on 64-byte boundaries (32 elements of any dtype).
const PHASE_ALIGN = 32;
const alignUp = (n: number): number => Math.ceil(n / PHASE_ALIGN) * PHASE_ALIGN;

// The LM head's logits chunk is a multiple of 64 rows and, unless the micro-batch is smaller, at
// least 512: each chunk's products read the whole [vocab, hidden] head weight (forward, dX, dW),
// doing one FLOP per weight byte per row in bf16 (2 per multiply-add, 2 bytes a weight); an H100
// needs about 300 per byte to stay compute-bound (989 TFLOP/s over 3.35 TB/s), so 512 rows keep
// a margin and 256 would not.
const LOGITS_ROW_STEP = 64;
export const LOGITS_MIN_ROWS = 512;

export interface PhaseLayout {
  mlp: number[];
  attention: number[];
  /**
   * Element offsets of datt and dqkv inside a block's [capacity, 2F] gate|up buffer, or null when
   * they do not fit there and take the attention phase instead.
   */
  attentionInGateUp: number[] | null;
  head: number[];
  /** Rows of the LM head's logits chunk. */
  logitsRows: number;
  /** Length of the phase buffer: the longest phase. */
  elements: number;
}

/**
 * Element offsets of each phase's buffers inside the shared phase buffer. The logits chunk takes
 * at most `maxLogitsRows` (and T) rows, fewer when that many would make the head the longest
 * phase: then as many as fit beside headIn in the longer of the MLP and attention
 * phases (a multiple of 64, at least 512), so the chunk costs no memory of its own. More chunks
 * change only the order in which the head's weight gradient is summed. memory_plan.ts sizes the
 * buffer with the same function.
 */
export function phaseLayout(spec: ModelSpec, T: number, maxLogitsRows: number): PhaseLayout {
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V } = spec;
  const carve = (sizes: number[]): { offsets: number[]; end: number } => {
    const offsets: number[] = [];
    let end = 0;
    for (const n of sizes) {
      offsets.push(end);
      end += alignUp(n);
    }
    return { offsets, end };
  };
  // a norm's output (ln) opens the MLP's and attention's shares: it is dead before h or datt is
  // written there, and recomputed after they are dead; the MLP's backward recomputes x2 beside it
  // once dh is dead
  const mlpNorm = carve([T * H, T * H]); // ln, and x2 again beside it
  const mlp = { offsets: mlpNorm.offsets, end: Math.max(alignUp(T * F), mlpNorm.end) }; // h, then dh, over both
  // attention's backward: datt and dqkv in the block's gate|up buffer, dead after its MLP half,
  // where they fit; the phase buffer then holds only the attention half's recomputed ln
  const grads = carve([T * nh * D, T * (nh + 2 * nkv) * D]);
  const attentionInGateUp = grads.end <= T * 2 * F ? grads.offsets : null;
  const attention = attentionInGateUp ? carve([T * H]) : carve([Math.max(T * nh * D, T * H), T * (nh + 2 * nkv) * D]); // ln (or datt); dqkv
  // headIn, then the logits chunk and, once the chunks are done, dlnf over it
  const headRest = [T * H];
  const room = Math.max(mlp.end, attention.end) - carve(headRest).end;
  const fitting = Math.floor(Math.max(0, room) / V / LOGITS_ROW_STEP) * LOGITS_ROW_STEP;
  const logitsRows = Math.min(maxLogitsRows, T, Math.max(LOGITS_MIN_ROWS, fitting));
  const head = carve([...headRest, Math.max(logitsRows * V, T * H)]);
  return {
    mlp: mlp.offsets, attention: attention.offsets, attentionInGateUp, head: head.offsets, logitsRows,
    elements: Math.max(mlp.end, attention.end, head.end),
  };
}

export interface ActivationSet {
  capacity: number;
  layout: PhaseLayout;
  /** Residual stream at the input of block l (l = nLayers is the input of ln_f). */
  resid: Tensor[];
  blocks: BlockActivations[];
  work: Workspace;
  arena: Arena;
}

export function allocActivations(spec: ModelSpec, dtype: DType, capacity: number, logitsChunk: number, recompute: boolean,
  device: Device = 'cpu'): ActivationSet {
  const arena = new Arena(MemCategory.Activations, device);
  const { hidden: H, nHeads: nh, nKvHeads: nkv, headDim: D, ffn: F, vocab: V } = spec;
  const T = capacity;
  const qkvWidth = (nh + 2 * nkv) * D;
  const a = (shape: number[]): Tensor => arena.alloc(dtype, shape);
  const f32 = (shape: number[]): Tensor => arena.alloc(DType.F32, shape);
  const blockSet = (): BlockActivations => ({
    rstd1: f32([T]),
    qkv: a([T, qkvWidth]),
    att: a([T, nh * D]),
    lse: f32([nh, T]),
    x2: recompute ? a([T, H]) : null,
    rstd2: f32([T]),
    gu: a([T, 2 * F]),
  });
  const resid: Tensor[] = [];
  for (let l = 0; l <= spec.nLayers; l++) resid.push(a([T, H]));
  const blocks: BlockActivations[] = [];
  if (recompute) {
    const shared = blockSet();
    for (let l = 0; l < spec.nLayers; l++) blocks.push(shared);
  } else {
    for (let l = 0; l < spec.nLayers; l++) blocks.push(blockSet());
  }
  const layout = phaseLayout(spec, T, logitsChunk);
  const phases = a([layout.elements]);
  const work: Workspace = {
    ln: phases.view(0, [T, H]),
    x2Again: phases.view(layout.mlp[1]!, [T, H]),
    rstd: f32([T]),
    h: phases.view(layout.mlp[0]!, [T, F]),
    dresid: a([T, H]),
    dh: phases.view(layout.mlp[0]!, [T, F]),
    phases,
    rstdf: f32([T]),
    headIn: phases.view(layout.head[0]!, [T, H]),
    logits: phases.view(layout.head[1]!, [layout.logitsRows, V]),
    dlnf: phases.view(layout.head[1]!, [T, H]),
  };
  return { capacity, layout, resid, blocks, work, arena };
}

/**
 * Attention's backward temporaries datt [T, nh D] and dqkv [T, (nh + 2 nkv) D] of a block whose
 * gate|up buffer is `gu` ([capacity, 2F]): there where they fit, else in the phase buffer.
 */
export function attentionGrads(spec: ModelSpec, acts: ActivationSet, gu: Tensor, T: number): { datt: Tensor; dqkv: Tensor } {
  const inGateUp = acts.layout.attentionInGateUp;
  const home = inGateUp ? gu : acts.work.phases;
  const offsets = inGateUp ?? acts.layout.attention;
  return {
    datt: home.view(offsets[0]!, [T, spec.nHeads * spec.headDim]),
    dqkv: home.view(offsets[1]!, [T, (spec.nHeads + 2 * spec.nKvHeads) * spec.headDim]),
  };
}

/** The first T rows of a [capacity, ...] activation ([nh, T] for lse). */
export function rowsOf(t: Tensor, T: number): Tensor {
  return t.rows(0, T);
}

export function lseOf(t: Tensor, T: number): Tensor {
  return t.view(0, [t.shape[0]!, T]);
}
