// Activation memory, allocated once for the largest micro-batch (capacity in tokens) and
// reused every step. Each block keeps what its backward needs; with recompute only the
// block inputs are kept per block and one shared set is refilled during backward.
import { Arena, DType, MemCategory, type Device, type Tensor } from '../native/tensor.js';
import type { ModelSpec } from './spec.js';

/** What one block's backward reads, saved by its forward. */
export interface BlockActivations {
  ln1: Tensor; // [T, H] normed input
  rstd1: Tensor; // [T] fp32
  qkv: Tensor; // [T, (nh + 2 nkv) D] after rotary
  att: Tensor; // [T, nh D] attention output
  lse: Tensor; // [nh, T] fp32
  x2: Tensor; // [T, H] residual after attention
  ln2: Tensor; // [T, H]
  rstd2: Tensor; // [T] fp32
  gu: Tensor; // [T, 2F] gate | up
}

/** Temporaries shared by all blocks and the head. */
export interface Workspace {
  tmpH: Tensor; // [T, H] projection outputs before the residual add
  h: Tensor; // [T, F] swiglu output (recomputed in backward)
  dresid: Tensor; // [T, H] gradient flowing down the residual stream
  dln: Tensor; // [T, H]
  dgu: Tensor; // [T, 2F]
  dh: Tensor; // [T, F]
  datt: Tensor; // [T, nh D]
  dqkv: Tensor; // [T, (nh + 2 nkv) D]
  lnf: Tensor; // [T, H]
  rstdf: Tensor; // [T] fp32
  headIn: Tensor; // [T, H] rows of lnf that carry loss, gathered
  dheadIn: Tensor; // [T, H]
  logits: Tensor; // [chunk, V]
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
    ln1: a([T, H]),
    rstd1: f32([T]),
    qkv: a([T, qkvWidth]),
    att: a([T, nh * D]),
    lse: f32([nh, T]),
    x2: a([T, H]),
    ln2: a([T, H]),
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
  const work: Workspace = {
    tmpH: a([T, H]),
    h: a([T, F]),
    dresid: a([T, H]),
    dln: a([T, H]),
    dgu: a([T, 2 * F]),
    dh: a([T, F]),
    datt: a([T, nh * D]),
    dqkv: a([T, qkvWidth]),
    lnf: a([T, H]),
    rstdf: f32([T]),
    headIn: a([T, H]),
    dheadIn: a([T, H]),
    logits: a([Math.min(logitsChunk, T), V]),
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
