// Activation memory, allocated once for the largest micro-batch (capacity in tokens) and
// reused every step. Each block keeps what its backward needs; with recompute only the
// block inputs are kept per block and one shared set is refilled during backward.
import { Arena, DType, MemCategory, type Device, type Tensor } from '../native/tensor.js';
import type { ModelSpec } from './spec.js';

/**
 * What one block's backward reads, saved by its forward. The norm outputs are not kept: the
 * backward recomputes them from the norm inputs it keeps anyway (the block input and x2), one
 * memory-bound pass each, instead of holding two [T, H] tensors per block.
 */
export interface BlockActivations {
  rstd1: Tensor; // [T] fp32
  qkv: Tensor; // [T, (nh + 2 nkv) D] after rotary
  att: Tensor; // [T, nh D] attention output
  lse: Tensor; // [nh, T] fp32
  x2: Tensor; // [T, H] residual after attention
  rstd2: Tensor; // [T] fp32
  gu: Tensor; // [T, 2F] gate | up
}

/**
 * Temporaries shared by all blocks and the head. Three groups are never alive together, so they
 * share one buffer (`phases`): the MLP's h, with dh written over it once h's readers are done (a
 * block's forward MLP and its backward MLP half), attention's {datt, dqkv} (a block's backward
 * attention half, after its MLP half) and the head's {lnf, headIn, dheadIn, logits} (after the
 * last block's forward, before the first backward). A norm's output `ln` opens the buffer too: the
 * projection that reads it runs before h or datt is written there (forward), or after they are
 * dead (backward, where it is recomputed). The gate|up gradient has no buffer of its own: the
 * swiglu backward writes it over the block's saved gate|up, which nothing reads after it.
 */
export interface Workspace {
  ln: Tensor; // [T, H] a norm's output, made where a projection reads it   -- MLP, attention phase
  rstd: Tensor; // [T] fp32 the recomputing norm's 1/rms (the saved one is used for its backward)
  h: Tensor; // [T, F] swiglu output (recomputed in backward)   -- MLP phase
  dresid: Tensor; // [T, H] gradient flowing down the residual stream
  dln: Tensor; // [T, H] a norm's input gradient; before it, a branch's dropout gradient or a recomputed block's discarded output
  dh: Tensor; // [T, F] the same buffer as h                      -- MLP phase
  datt: Tensor; // [T, nh D]                                       -- attention phase
  dqkv: Tensor; // [T, (nh + 2 nkv) D]                             -- attention phase
  lnf: Tensor; // [T, H]                                           -- head phase
  rstdf: Tensor; // [T] fp32
  headIn: Tensor; // [T, H] rows of lnf that carry loss, gathered  -- head phase
  dheadIn: Tensor; // [T, H]                                       -- head phase
  logits: Tensor; // [chunk, V] one chunk of LM-head rows             -- head phase
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
  head: number[];
  /** Rows of the LM head's logits chunk. */
  logitsRows: number;
  /** Length of the phase buffer: the longest phase. */
  elements: number;
}

/**
 * Element offsets of each phase's buffers inside the shared phase buffer. The logits chunk takes
 * at most `maxLogitsRows` (and T) rows, fewer when that many would make the head the longest
 * phase: then as many as fit beside lnf, headIn and dheadIn in the longer of the MLP and attention
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
  // written there, and recomputed after they are dead
  const mlp = carve([Math.max(T * F, T * H)]); // ln, then h, then dh over it
  const attention = carve([Math.max(T * nh * D, T * H), T * (nh + 2 * nkv) * D]); // ln or datt; dqkv
  const headRest = [T * H, T * H, T * H];
  const room = Math.max(mlp.end, attention.end) - carve(headRest).end;
  const fitting = Math.floor(Math.max(0, room) / V / LOGITS_ROW_STEP) * LOGITS_ROW_STEP;
  const logitsRows = Math.min(maxLogitsRows, T, Math.max(LOGITS_MIN_ROWS, fitting));
  const head = carve([...headRest, logitsRows * V]);
  return { mlp: mlp.offsets, attention: attention.offsets, head: head.offsets, logitsRows, elements: Math.max(mlp.end, attention.end, head.end) };
}

export interface ActivationSet {
  capacity: number;
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
    x2: a([T, H]),
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
    rstd: f32([T]),
    h: phases.view(layout.mlp[0]!, [T, F]),
    dresid: a([T, H]),
    dln: a([T, H]),
    dh: phases.view(layout.mlp[0]!, [T, F]),
    datt: phases.view(layout.attention[0]!, [T, nh * D]),
    dqkv: phases.view(layout.attention[1]!, [T, qkvWidth]),
    lnf: phases.view(layout.head[0]!, [T, H]),
    rstdf: f32([T]),
    headIn: phases.view(layout.head[1]!, [T, H]),
    dheadIn: phases.view(layout.head[2]!, [T, H]),
    logits: phases.view(layout.head[3]!, [layout.logitsRows, V]),
  };
  return { capacity, resid, blocks, work, arena };
}

/** The first T rows of a [capacity, ...] activation ([nh, T] for lse). */
export function rowsOf(t: Tensor, T: number): Tensor {
  return t.rows(0, T);
}

export function lseOf(t: Tensor, T: number): Tensor {
  return t.view(0, [t.shape[0]!, T]);
}
